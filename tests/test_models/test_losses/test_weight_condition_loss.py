"""WeightConditionLoss against torch.linalg.svdvals in float64."""

import io

import pytest
import torch
from mmpretrain.registry import MODELS

from mmdiverse.models.losses import WeightConditionLoss
from mmdiverse.models.losses.weight_condition_loss import ESTIMATORS
from tests.helpers.spectra import SIGMAS, matrix


def weights_set():
    return [
        matrix(8, 8, SIGMAS, 0),
        matrix(8, 12, [2.0, 1.8, 1.5, 1.2, 1.0, 0.9, 0.8, 0.2], 1),  # wide
        matrix(8, 8, [x / 2 for x in SIGMAS], 2),  # same shape as [0]
        matrix(10, 6, [1.5, 1.2, 1.0, 0.8, 0.7, 0.1], 3),  # tall
    ]


def reference(weights):
    total = 0.0
    for w in weights:
        s = torch.linalg.svdvals(w)
        total = total + (s[0] ** 2 - s[-1] ** 2) ** 2
    return total


def test_converges_to_svdvals_value_and_gradient():
    weights = [w.requires_grad_() for w in weights_set()]
    loss = WeightConditionLoss(num_iters=300, init_iters=0)
    value = loss(weights)
    grads = torch.autograd.grad(value, weights)
    ref = reference(weights)
    ref_grads = torch.autograd.grad(ref, weights)
    torch.testing.assert_close(value, ref, rtol=1e-9, atol=0)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-6)


def test_persistent_vectors_sharpen_over_calls():
    weights = weights_set()
    ref = reference(weights).item()
    loss = WeightConditionLoss(num_iters=1, init_iters=0)
    errors = []
    for step in range(1, 401):
        value = loss(weights).item()
        if step in (1, 10, 50, 400):
            errors.append(abs(value - ref) / ref)
    assert errors[0] > 1e-2  # one iteration from noise is far off
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-9, errors
    # a fresh module with the same single iteration is as bad as step 1
    fresh = WeightConditionLoss(num_iters=1, init_iters=0)(weights).item()
    assert abs(fresh - ref) / ref > 1e-2


def test_buffers_float32_on_weight_device_and_state_dict_resume():
    weights = [w.float() for w in weights_set()]
    trained = WeightConditionLoss(num_iters=1)
    for _ in range(5):
        trained(weights)
    state = trained.state_dict()
    assert sorted(state) == [f'power_vectors_{i}' for i in range(4)]
    for i, w in enumerate(weights):
        buf = state[f'power_vectors_{i}']
        assert buf.dtype == torch.float32 and buf.device == w.device
        assert buf.shape == (2, min(w.shape))
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    resumed = WeightConditionLoss(num_iters=1)
    resumed.load_state_dict(torch.load(buffer, weights_only=True))
    for _ in range(3):  # identical continuation: bit-exact
        assert torch.equal(trained(weights), resumed(weights))
    for key, value in trained.state_dict().items():
        assert torch.equal(value, resumed.state_dict()[key])


def test_eval_mode_leaves_state_untouched():
    weights = weights_set()
    loss = WeightConditionLoss(num_iters=2)
    loss(weights)
    before = {k: v.clone() for k, v in loss.state_dict().items()}
    loss.eval()
    loss(weights)
    for key, value in loss.state_dict().items():
        assert torch.equal(value, before[key])
    fresh = WeightConditionLoss().eval()
    fresh(weights)
    assert len(fresh.state_dict()) == 0


def test_init_independent_of_global_rng():
    # DDP ranks must start from identical vectors whatever their RNG state
    weights = weights_set()
    torch.manual_seed(0)
    a = WeightConditionLoss()(weights)
    torch.manual_seed(123)
    b = WeightConditionLoss()(weights)
    assert torch.equal(a, b)


def test_shape_change_reinitializes():
    loss = WeightConditionLoss(num_iters=50)
    loss([matrix(8, 8, SIGMAS, 0)])
    value = loss([matrix(6, 6, SIGMAS[2:], 5)])
    assert loss.power_vectors_0.shape == (2, 6)
    torch.testing.assert_close(value, reference([matrix(6, 6, SIGMAS[2:], 5)]), rtol=1e-6, atol=0)


def test_accepts_parameter_list_and_chunked_qkv():
    torch.manual_seed(0)
    qkv = torch.nn.Linear(8, 24, bias=False)
    params = torch.nn.ParameterList([torch.nn.Parameter(torch.randn(6, 6))])
    value = WeightConditionLoss(num_iters=2000)(qkv.weight.chunk(3)) + WeightConditionLoss(
        num_iters=2000
    )(params)
    value.backward()
    expected = reference([w.double() for w in qkv.weight.chunk(3)]) + reference(
        [params[0].double()]
    )
    torch.testing.assert_close(value.double(), expected, rtol=1e-4, atol=0)
    assert qkv.weight.grad.shape == (24, 8)


def test_zero_matrix_is_finite():
    w = torch.zeros(4, 4, requires_grad=True)
    value = WeightConditionLoss()([w, matrix(4, 4, [1.0, 0.8, 0.5, 0.2], 0)])
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(w.grad).all()


def test_loss_weight_registry_and_autocast():
    weights = [w.float() for w in weights_set()]
    loss = MODELS.build(dict(type='WeightConditionLoss', loss_weight=5e-4, num_iters=200))
    assert isinstance(loss, WeightConditionLoss)
    value = loss(weights)
    torch.testing.assert_close(value, 5e-4 * reference(weights_set()).float(), rtol=1e-4, atol=0)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        amp = loss(weights)
        amp_bf16 = loss([w.bfloat16() for w in weights])
    assert amp.dtype == torch.float32 and amp_bf16.dtype == torch.float32
    torch.testing.assert_close(amp, value, rtol=1e-5, atol=0)
    torch.testing.assert_close(amp_bf16, value, rtol=5e-2, atol=0)


@pytest.mark.parametrize(
    'bad,pattern',
    [
        (torch.randn(4, 4), r'list of weight matrices.*got \(4, 4\)'),
        ([], 'at least one weight matrix'),
        (
            [torch.randn(4, 4), torch.randn(2, 3, 4, 4)],
            r'weights\[1\] of shape \(rows, cols\) or \(k, rows, cols\), '
            r'got \(2, 3, 4, 4\)',
        ),
    ],
)
def test_invalid_inputs_raise(bad, pattern):
    with pytest.raises(ValueError, match=pattern):
        WeightConditionLoss()(bad)


# ---------------------------------------------------- estimator='fresh_rayleigh'
def rayleigh_reference(weights, vectors):
    """Diverse-ViT's estimate from its formula: M = W^T W formed in float64
    (the tall orientation, W^T for a wide W), lambda = x^T M^3 x / x^T M^2 x,
    then the same on M - lambda_max I; summed (lambda_max - sigma_min^2)^2."""
    total = 0.0
    for w, x in zip(weights, vectors):
        w = w if w.shape[0] >= w.shape[1] else w.T
        m = w.T @ w
        x1, x2 = x[0].double(), x[1].double()

        def rayleigh(a, v):
            a2 = a @ a
            return (v @ a2 @ a @ v) / (v @ a2 @ v)

        lam_max = rayleigh(m, x1)
        shifted = m - lam_max * torch.eye(m.shape[0], dtype=m.dtype)
        sigma_min_sq = rayleigh(shifted, x2) + lam_max
        total = total + (lam_max - sigma_min_sq) ** 2
    return total


def uniform_vectors(weights, seed):
    gen = torch.Generator().manual_seed(seed)
    return [torch.rand(2, min(w.shape), generator=gen, dtype=torch.float64) for w in weights]


def test_fresh_rayleigh_matches_formula_value_and_gradient():
    weights = [w.requires_grad_() for w in weights_set()]
    vectors = uniform_vectors(weights, 7)
    loss = WeightConditionLoss(loss_weight=5e-4, estimator='fresh_rayleigh')
    value = loss(weights, vectors=vectors)
    grads = torch.autograd.grad(value, weights)
    ref = 5e-4 * rayleigh_reference(weights, vectors)
    ref_grads = torch.autograd.grad(ref, weights)
    torch.testing.assert_close(value, ref, rtol=1e-10, atol=0)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-8, atol=1e-14)
    # one step from U[0,1) is far from the exact spectrum (reference())
    assert abs(value.item() / 5e-4 - reference(weights).item()) > 1e-2
    assert len(loss.state_dict()) == 0  # stateless


def test_fresh_rayleigh_gradient_runs_through_the_shift():
    # detaching lambda_max inside M - lambda_max I changes the gradient
    w = matrix(8, 8, SIGMAS, 0).requires_grad_()
    x = uniform_vectors([w], 3)
    grad = torch.autograd.grad(WeightConditionLoss(estimator='fresh_rayleigh')([w], vectors=x), w)[
        0
    ]
    m = w.T @ w
    x1, x2 = x[0][0], x[0][1]
    lam = (x1 @ m @ m @ m @ x1) / (x1 @ m @ m @ x1)
    shifted = m - lam.detach() * torch.eye(8, dtype=m.dtype)
    lam_min = (x2 @ shifted @ shifted @ shifted @ x2) / (x2 @ shifted @ shifted @ x2) + lam.detach()
    detached = torch.autograd.grad((lam - lam_min) ** 2, w)[0]
    assert (grad - detached).norm() > 1e-3 * grad.norm()


def test_fresh_rayleigh_draws_fresh_uniform_vectors():
    weights = [w.float() for w in weights_set()]
    # from the generator: U[0,1) in float32, per same-shape group in order
    loss = WeightConditionLoss(
        estimator='fresh_rayleigh', generator=torch.Generator().manual_seed(1)
    )
    value = loss(weights)
    gen = torch.Generator().manual_seed(1)
    groups = {(8, 8): [0, 2], (12, 8): [1], (10, 6): [3]}  # first-seen order
    vectors = [None] * 4
    for shape, members in groups.items():
        draw = torch.rand(len(members), 2, shape[1], generator=gen)
        for k, i in enumerate(members):
            vectors[i] = draw[k]
    torch.testing.assert_close(value, loss(weights, vectors=vectors))
    assert not torch.equal(loss(weights), value)  # a new draw every call
    # without a generator: the global RNG (seeded -> reproducible)
    plain = WeightConditionLoss(estimator='fresh_rayleigh')
    torch.manual_seed(5)
    a = plain(weights)
    torch.manual_seed(5)
    assert torch.equal(plain(weights), a) and not torch.equal(plain(weights), a)


def test_fresh_rayleigh_is_batched_without_forming_wtw():
    from torch.utils._python_dispatch import TorchDispatchMode

    class MatmulShapes(TorchDispatchMode):
        """Input shapes of every (b)mm, forward and backward."""

        def __init__(self):
            super().__init__()
            self.calls = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if 'mm' in str(func):
                self.calls.append([tuple(a.shape) for a in args if torch.is_tensor(a)])
            return func(*args, **(kwargs or {}))

    # six matrices as two fused parts (3, 16, 16), as the taps give them
    weights = [
        torch.stack([matrix(16, 16, SIGMAS * 2, 3 * p + s) for s in range(3)]).requires_grad_()
        for p in range(2)
    ]
    loss = WeightConditionLoss(estimator='fresh_rayleigh')
    with MatmulShapes() as mode:
        value = loss(weights)
    # per part, three batched matrix-vector products (2 vectors)
    assert len(mode.calls) == 6
    for shapes in mode.calls:
        assert shapes[0][0] == 3 and any(2 in s[-2:] for s in shapes), shapes
    with MatmulShapes() as mode:
        value.backward()
    # per part: W^T and W with 2 vectors, then the rank-6 gradient
    assert len(mode.calls) == 6
    for shapes in mode.calls:  # never a (16 x 16) @ (16 x 16) product
        assert sum(s[-2:] == (16, 16) for s in shapes) <= 1, shapes
        assert any(s[-1] in (2, 6) or s[-2] in (2, 6) for s in shapes), shapes
    assert all(torch.isfinite(w.grad).all() for w in weights)


@pytest.mark.parametrize('estimator', ESTIMATORS)
def test_fused_parts_equal_their_matrices(estimator):
    """``(k, rows, cols)`` parts (``qkv.weight.view(3, d, d_in)``) give the
    loss and gradient of their ``k`` matrices, numbered in order."""
    fused = [
        torch.cat([matrix(8, 8, SIGMAS, 3 * b + s) for s in range(3)]) for b in range(2)
    ]  # two (24, 8) qkv weights
    wide = matrix(8, 12, [2.0, 1.8, 1.5, 1.2, 1.0, 0.9, 0.8, 0.2], 9)
    kwargs = (
        dict(vectors=uniform_vectors([wide] + [wide[:, :8]] * 6, 4))
        if estimator == 'fresh_rayleigh'
        else {}
    )

    def run(as_parts):
        leaves = [w.clone().requires_grad_() for w in (wide, *fused)]
        weights = [leaves[0]] + [
            m for w in leaves[1:] for m in ([w.view(3, 8, 8)] if as_parts else w.chunk(3))
        ]
        loss = WeightConditionLoss(estimator=estimator, num_iters=3)
        value = loss(weights, **kwargs)
        value.backward()
        return value, [w.grad for w in leaves], loss.state_dict()

    value, grads, state = run(as_parts=True)
    ref_value, ref_grads, ref_state = run(as_parts=False)
    torch.testing.assert_close(value, ref_value, rtol=1e-12, atol=0)
    for g, r in zip(grads, ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-10, atol=1e-14)
    assert state.keys() == ref_state.keys()  # buffers keyed per matrix
    for key in state:
        torch.testing.assert_close(state[key], ref_state[key])
    if estimator == 'persistent':
        assert len(state) == 7


def test_fresh_rayleigh_zero_matrix_autocast_and_bad_options():
    w = torch.zeros(4, 4, requires_grad=True)
    loss = WeightConditionLoss(estimator='fresh_rayleigh')
    value = loss([w, matrix(4, 4, [1.0, 0.8, 0.5, 0.2], 0)])
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(w.grad).all()
    weights = [w.float() for w in weights_set()]
    vectors = uniform_vectors(weights, 2)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        amp = loss([w.bfloat16() for w in weights], vectors=vectors)
    assert amp.dtype == torch.float32
    torch.testing.assert_close(
        amp.double(),
        rayleigh_reference([w.bfloat16().double() for w in weights], vectors),
        rtol=1e-4,
        atol=0,
    )
    with pytest.raises(ValueError, match='estimator must be one of'):
        WeightConditionLoss(estimator='exact')
    with pytest.raises(ValueError, match=r'vectors\[1\] of shape \(2, 8\), got \(2, 6\)'):
        loss(weights, vectors=[vectors[0], vectors[3], *vectors[2:]])
    with pytest.raises(ValueError, match="need estimator='fresh_rayleigh'"):
        WeightConditionLoss()(weights, vectors=vectors)


def test_fresh_rayleigh_reads_nothing_back_on_the_host(count_host_reads):
    """No ``.item()``, ``bool(tensor)``, ... in forward or backward (a host
    sync per step on a GPU)."""
    weights = [matrix(8, 8, SIGMAS, s).requires_grad_() for s in range(3)]
    loss = WeightConditionLoss(estimator='fresh_rayleigh')
    with count_host_reads() as counts:
        loss(weights).backward()
        torch.zeros(2).sum().item()  # control: the hooks are live
    assert dict(counts) == {'item': 1}
