"""A 2-layer PyTorch nn.LSTM (Hochreiter and Schmidhuber 1997; torch.nn.LSTM's equations),
compiled as it is: `rnncirc compile examples/torch_lstm.py --length 64`.

A model file may define a torch module at module level instead of `rc.rnn` models; rnncirc
converts it with `rc.from_torch` (each layer a scan with state [h; c], the output the last
layer's h). Trained weights come in through a state_dict, which is safe to load
(`weights_only=True`); a whole pickled module is not, and the command line refuses `.pt`
files unless told `--trust-pickle`.
"""

import os

import torch

K, H = 4, 8
torch.manual_seed(0)
lstm = torch.nn.LSTM(input_size=K, hidden_size=H, num_layers=2)

# weights saved with torch.save(lstm.state_dict(), "torch_lstm.pt"), if that file is here
WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_lstm.pt")
if os.path.exists(WEIGHTS):
    lstm.load_state_dict(torch.load(WEIGHTS, weights_only=True))
