"""mmdiverse.checkpoint.read: state dicts out of checkpoint containers."""

from collections import OrderedDict

import pytest
import torch

from mmdiverse.checkpoint.read import extract_state_dict


def test_extract_state_dict_unwraps_containers_and_ddp_prefix():
    sd = OrderedDict([('module.a', torch.zeros(1)), ('module.b', torch.ones(2))])
    for container in ({'state_dict': sd, 'optimizer': {}}, {'model': sd}, sd):
        found, _ = extract_state_dict(container)
        assert list(found) == ['a', 'b']
    found, where = extract_state_dict({'model': {}, 'model_ema': sd}, key='model_ema')
    assert where == 'model_ema' and list(found) == ['a', 'b']
    with pytest.raises(ValueError, match='cannot find the model weights'):
        extract_state_dict({'epoch': 3})
