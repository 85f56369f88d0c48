"""Shared settings for the data tests."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run each data test with one intra-op thread, then restore the previous count.

    The builders issue many small tensor ops; when test workers (or other jobs) already
    occupy the cores, torch's extra threads only wait for a time slice, making a 0.3 s
    build take several seconds. Results do not depend on the thread count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
