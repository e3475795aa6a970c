"""Importing mmdiverse registers its modules into the host registries."""
from mmengine.config import Config


def test_import_registers_into_mmpretrain_and_mmseg():
    import mmdiverse  # noqa: F401
    from mmpretrain.registry import BATCH_AUGMENTS
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS
    from mmseg.registry import MODELS as SEG_MODELS

    for name in ('PatchCosineLoss', 'PatchContrastiveLoss', 'PatchMixingLoss',
                 'AttentionDiversityLoss', 'WeightConditionLoss', 'DiverseImageClassifier'):
        assert PRETRAIN_MODELS.get(name) is not None, name
    assert BATCH_AUGMENTS.get('PatchCutMix') is not None
    for name in ('DiverseEncoderDecoder', 'TransferEncoderDecoder'):
        assert SEG_MODELS.get(name) is not None, name


def test_custom_imports_in_a_config_is_enough(tmp_path):
    config = tmp_path / 'cfg.py'
    config.write_text("custom_imports = dict(imports=['mmdiverse'], allow_failed_imports=False)\n"
                      "model = dict(type='PatchCosineLoss', loss_weight=0.5)\n")
    cfg = Config.fromfile(str(config))
    from mmpretrain.registry import MODELS
    loss = MODELS.build(cfg.model)
    assert type(loss).__name__ == 'PatchCosineLoss' and loss.loss_weight == 0.5
