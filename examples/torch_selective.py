"""A selective diagonal state-space cell written as a PyTorch module (Mamba/S6-style, Gu and
Dao 2023, arXiv 2312.00752): `rnncirc compile examples/torch_selective.py --length 64`.

delta = softplus(W_delta x + b_delta), h' = exp(-delta * A) * h + delta * (B x). rnncirc
traces forward with torch.fx and replays it with its own operations, so the cell classifies
as diagonal (TC0) and compiles to a log-depth prefix network, exactly as the hand-written
examples/mamba.py does. The attributes input_size and hidden_size tell rnncirc the shapes.
"""

import torch
import torch.nn.functional as F
from torch import nn


class SelectiveCell(nn.Module):
    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.delta = nn.Linear(input_size, hidden_size)
        self.B = nn.Linear(input_size, hidden_size, bias=False)
        self.log_A = nn.Parameter(torch.randn(hidden_size))  # decay rates A = exp(log_A) > 0

    def forward(self, x, h):
        delta = F.softplus(self.delta(x))
        return torch.exp(-delta * torch.exp(self.log_A)) * h + delta * self.B(x)


torch.manual_seed(0)
selective = SelectiveCell(input_size=4, hidden_size=16)
