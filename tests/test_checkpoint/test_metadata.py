"""Transfer metadata (mmdiverse.checkpoint.metadata)."""
from mmdiverse.checkpoint.metadata import TERMS, regularizers_from_cfg


def test_term_list_is_the_models_own():
    """metadata keeps a copy (the checkpoint package must not import the
    models, which import it); it must not drift from the one term table."""
    from mmdiverse.models.diversity import TERMS as MODEL_TERMS
    assert TERMS == tuple(MODEL_TERMS)


def test_regularizers_from_cfg_reads_every_term_of_the_table():
    diversity = {term: dict(type='AnyLoss', loss_weight=0.1 * (i + 1))
                 for i, term in enumerate(reversed(TERMS))}
    diversity['patch_cos'] = dict(type='PatchCosineLoss', loss_weight=0)    # off
    terms, weights = regularizers_from_cfg(dict(diversity=diversity))
    assert terms == [t for t in TERMS if t != 'patch_cos']
    assert weights['weight_cond'] == 0.1
