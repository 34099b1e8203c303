"""Fails at module level, before any RNN is defined."""

import numpy as np

W = np.ones((2, 3)) @ np.ones((2, 3))  # shapes do not match
