"""Wrong-but-plausible and correct-but-different answers to ps2, ps3 and ps4.

Each :class:`Variant` is the full source of one answer cell (what a student would type
into the cell whose grade id is ``grade_id``). tests/test_ps234.py autogrades them with
the real nbgrader and asserts that

* a wrong variant loses points on its own test cell (``test_<grade_id>``), and on no
  test cell outside ``affects`` (empty everywhere: a test of a later question uses the
  course's version of the earlier answers, so a wrong ``he_normal_`` costs only its own
  question, not ``build_mlp``'s too);
* a correct variant keeps full marks everywhere.

Each wrong variant's ``why`` names the mistake it models.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    """One answer to one solution cell."""

    assignment: str
    grade_id: str
    name: str
    source: str
    correct: bool
    why: str = ""
    affects: tuple[str, ...] = ()

    @property
    def test_id(self) -> str:
        return f"test_{self.grade_id}"

    @property
    def touches(self) -> set[str]:
        """Test cells whose score this variant may change."""
        return {self.test_id, *self.affects}


#: How long the slow but honest ps4 trainer takes: close to the stated 55 s budget.
SLOW_TRAINER_SECONDS = 52.9

PS2 = "ps2_vanishing_gradients"
PS3 = "ps3_dying_relu"
PS4 = "ps4_gpu_training"


def _v(assignment: str, grade_id: str, name: str, source: str, **kw: object) -> Variant:
    return Variant(assignment, grade_id, name, source.strip("\n"), **kw)  # type: ignore[arg-type]


def wrong(
    assignment: str, grade_id: str, name: str, why: str, source: str, **kw: object
) -> Variant:
    return _v(assignment, grade_id, name, source, correct=False, why=why, **kw)


def right(assignment: str, grade_id: str, name: str, source: str) -> Variant:
    return _v(assignment, grade_id, name, source, correct=True)


# ------------------------------------------------------------------------ ps2: xavier

XAVIER = [
    wrong(
        PS2,
        "xavier_normal_",
        "fan_in_only",
        "Xavier with fan_in only (LeCun's std)",
        """
def xavier_normal_(weight):
    with torch.no_grad():
        weight.normal_(0.0, math.sqrt(1.0 / weight.shape[1]))
    return weight
""",
    ),
    wrong(
        PS2,
        "xavier_normal_",
        "uniform_normal_bound",
        "uniform with the normal's std as bound",
        """
def xavier_normal_(weight):
    std = math.sqrt(2.0 / (weight.shape[0] + weight.shape[1]))
    with torch.no_grad():
        weight.uniform_(-std, std)
    return weight
""",
    ),
    wrong(
        PS2,
        "xavier_normal_",
        "not_in_place",
        "returns a new tensor, leaves weight alone",
        """
def xavier_normal_(weight):
    std = math.sqrt(2.0 / (weight.shape[0] + weight.shape[1]))
    return torch.randn(weight.shape) * std
""",
    ),
    wrong(
        PS2,
        "xavier_normal_",
        "no_kernel",
        "fans ignore the conv kernel size",
        """
def xavier_normal_(weight):
    std = math.sqrt(2.0 / (weight.shape[0] + weight.shape[1]))
    with torch.no_grad():
        weight.normal_(0.0, std)
    return weight
""",
    ),
    wrong(
        PS2,
        "xavier_normal_",
        "nn_init_xavier",
        "torch.nn.init.xavier_normal_, which the notebook forbids",
        """
def xavier_normal_(weight):
    return nn.init.xavier_normal_(weight)
""",
    ),
    right(
        PS2,
        "xavier_normal_",
        "randn_copy",
        """
def xavier_normal_(weight):
    fan_in = math.prod(weight.shape[1:])
    fan_out = weight.shape[0] * math.prod(weight.shape[2:])
    with torch.no_grad():
        weight.copy_(torch.randn_like(weight) * (2.0 / (fan_in + fan_out)) ** 0.5)
    return weight
""",
    ),
    right(
        PS2,
        "xavier_normal_",
        "data_attribute",
        """
def xavier_normal_(weight):
    fan_in, fan_out = weight[0].numel(), weight[:, 0].numel()
    weight.data.normal_(mean=0.0, std=math.sqrt(2 / (fan_in + fan_out)))
    return weight
""",
    ),
]

# ---------------------------------------------------------------------------- ps2: he

HE = [
    wrong(
        PS2,
        "he_normal_",
        "one_over_fan_in",
        "He with sqrt(1/fan_in): the ReLU factor 2 lost",
        """
def he_normal_(weight):
    with torch.no_grad():
        weight.normal_(0.0, math.sqrt(1.0 / weight[0].numel()))
    return weight
""",
    ),
    wrong(
        PS2,
        "he_normal_",
        "fan_out",
        "fan_in read from shape[0] (out_features)",
        """
def he_normal_(weight):
    with torch.no_grad():
        weight.normal_(0.0, math.sqrt(2.0 / weight.shape[0]))
    return weight
""",
    ),
    wrong(
        PS2,
        "he_normal_",
        "no_no_grad",
        "in-place fill recorded by autograd (fails on a Parameter)",
        """
def he_normal_(weight):
    return weight.normal_(0.0, math.sqrt(2.0 / weight[0].numel()))
""",
    ),
    wrong(
        PS2,
        "he_normal_",
        "uniform_same_std",
        "uniform with the right std, not normal",
        """
def he_normal_(weight):
    bound = math.sqrt(3.0) * math.sqrt(2.0 / weight[0].numel())
    with torch.no_grad():
        weight.uniform_(-bound, bound)
    return weight
""",
    ),
    wrong(
        PS2,
        "he_normal_",
        "nn_init_kaiming",
        "torch.nn.init.kaiming_normal_, which the notebook forbids",
        """
from torch.nn.init import kaiming_normal_


def he_normal_(weight):
    return kaiming_normal_(weight, nonlinearity="relu")
""",
    ),
    right(
        PS2,
        "he_normal_",
        "randn_mul",
        """
def he_normal_(weight):
    fan_in = 1
    for size in weight.shape[1:]:
        fan_in *= size
    with torch.no_grad():
        weight[...] = torch.randn(weight.shape, dtype=weight.dtype) * math.sqrt(2 / fan_in)
    return weight
""",
    ),
]

# ---------------------------------------------------------------------- ps2: build_mlp

_ACTS = (
    'ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, '
    '"leaky_relu": nn.LeakyReLU}\n\n'
)

BUILD = [
    wrong(
        PS2,
        "build_mlp",
        "act_after_output",
        "an activation after the output layer too",
        _ACTS
        + """
def build_mlp(depth, width, activation="relu", init="he", in_features=16, out_features=4):
    sizes = [in_features] + [width] * depth + [out_features]
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        linear = nn.Linear(a, b)
        if init != "default":
            (he_normal_ if init == "he" else xavier_normal_)(linear.weight)
            nn.init.zeros_(linear.bias)
        layers += [linear, ACTIVATIONS[activation]()]
    return nn.Sequential(*layers)
""",
    ),
    wrong(
        PS2,
        "build_mlp",
        "init_ignored",
        "init argument ignored: PyTorch's default init",
        _ACTS
        + """
def build_mlp(depth, width, activation="relu", init="he", in_features=16, out_features=4):
    layers = [nn.Linear(in_features, width), ACTIVATIONS[activation]()]
    for _ in range(depth - 1):
        layers += [nn.Linear(width, width), ACTIVATIONS[activation]()]
    return nn.Sequential(*layers, nn.Linear(width, out_features))
""",
    ),
    wrong(
        PS2,
        "build_mlp",
        "inits_swapped",
        "'he' draws with Xavier and 'xavier' with He",
        _ACTS
        + """
def build_mlp(depth, width, activation="relu", init="he", in_features=16, out_features=4):
    sizes = [in_features] + [width] * depth + [out_features]
    layers = []
    for i in range(depth + 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        if init != "default":
            (xavier_normal_ if init == "he" else he_normal_)(linear.weight)
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < depth:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)
""",
    ),
    wrong(
        PS2,
        "build_mlp",
        "bias_kept",
        "PyTorch's random biases kept with He/Xavier",
        _ACTS
        + """
def build_mlp(depth, width, activation="relu", init="he", in_features=16, out_features=4):
    sizes = [in_features] + [width] * depth + [out_features]
    layers = []
    for i in range(depth + 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        if init == "he":
            he_normal_(linear.weight)
        elif init == "xavier":
            xavier_normal_(linear.weight)
        layers.append(linear)
        if i < depth:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)
""",
    ),
    right(
        PS2,
        "build_mlp",
        "append_loop",
        """
def build_mlp(depth, width, activation="relu", init="he", in_features=16, out_features=4):
    act = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
           "leaky_relu": nn.LeakyReLU}[activation]
    init_fn = {"he": he_normal_, "xavier": xavier_normal_, "default": None}[init]
    net = nn.Sequential()
    fan_in = in_features
    for _ in range(depth):
        net.append(nn.Linear(fan_in, width))
        net.append(act())
        fan_in = width
    net.append(nn.Linear(fan_in, out_features))
    if init_fn is not None:
        for module in net:
            if isinstance(module, nn.Linear):
                init_fn(module.weight)
                with torch.no_grad():
                    module.bias.fill_(0.0)
    return net
""",
    ),
    right(
        PS2,
        "build_mlp",
        "own_relu_class",
        """
class ReLU(nn.Module):  # the student's own ReLU layer: max(x, 0), with clamp
    def forward(self, x):
        return torch.clamp(x, min=0.0)


ACTIVATIONS = {"relu": ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "leaky_relu": nn.LeakyReLU}


def build_mlp(depth, width, activation="relu", init="he", in_features=16, out_features=4):
    sizes = [in_features] + [width] * depth + [out_features]
    layers = []
    for i in range(depth + 1):
        linear = nn.Linear(sizes[i], sizes[i + 1])
        if init != "default":
            (he_normal_ if init == "he" else xavier_normal_)(linear.weight)
            nn.init.zeros_(linear.bias)
        layers.append(linear)
        if i < depth:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)
""",
    ),
]

# ------------------------------------------------------------------- ps2: grad norms

GRAD = [
    wrong(
        PS2,
        "grad_norm_per_layer",
        "reversed",
        "output layer first (backprop order)",
        """
def grad_norm_per_layer(model, x, y):
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    norms = [m.weight.grad.norm().item() for m in model.modules() if isinstance(m, nn.Linear)]
    return norms[::-1]
""",
    ),
    wrong(
        PS2,
        "grad_norm_per_layer",
        "activation_norms",
        "norms of layer outputs, not of dL/dW",
        """
def grad_norm_per_layer(model, x, y):
    norms = []
    handles = [m.register_forward_hook(lambda mod, i, out: norms.append(out.norm().item()))
               for m in model.modules() if isinstance(m, nn.Linear)]
    try:
        model.zero_grad()
        F.cross_entropy(model(x), y).backward()
    finally:
        for h in handles:
            h.remove()
    return norms
""",
    ),
    wrong(
        PS2,
        "grad_norm_per_layer",
        "no_zero_grad",
        "gradients pile up across calls",
        """
def grad_norm_per_layer(model, x, y):
    F.cross_entropy(model(x), y).backward()
    return [m.weight.grad.norm().item() for m in model.modules() if isinstance(m, nn.Linear)]
""",
    ),
    wrong(
        PS2,
        "grad_norm_per_layer",
        "sum_loss",
        "summed cross-entropy instead of the mean",
        """
def grad_norm_per_layer(model, x, y):
    model.zero_grad()
    F.cross_entropy(model(x), y, reduction="sum").backward()
    return [m.weight.grad.norm().item() for m in model.modules() if isinstance(m, nn.Linear)]
""",
    ),
    wrong(
        PS2,
        "grad_norm_per_layer",
        "with_biases",
        "every parameter, biases included",
        """
def grad_norm_per_layer(model, x, y):
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return [p.grad.norm().item() for p in model.parameters()]
""",
    ),
    wrong(
        PS2,
        "grad_norm_per_layer",
        "weight_norms",
        "norm of the weight, not of its gradient",
        """
def grad_norm_per_layer(model, x, y):
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return [m.weight.norm().item() for m in model.modules() if isinstance(m, nn.Linear)]
""",
    ),
    right(
        PS2,
        "grad_norm_per_layer",
        "autograd_grad",
        """
def grad_norm_per_layer(model, x, y):
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    grads = torch.autograd.grad(nn.CrossEntropyLoss()(model(x), y), weights)
    return [float(torch.linalg.norm(g)) for g in grads]
""",
    ),
    right(
        PS2,
        "grad_norm_per_layer",
        "set_to_none_sqrt",
        """
def grad_norm_per_layer(model, x, y):
    for p in model.parameters():
        p.grad = None
    loss = F.cross_entropy(model(x), y, reduction="mean")
    loss.backward()
    out = []
    for _, module in model.named_modules():
        if type(module) is nn.Linear:
            out.append(math.sqrt(float((module.weight.grad ** 2).sum())))
    return out
""",
    ),
]

# --------------------------------------------------------------- ps3: dead detector

DEAD = [
    wrong(
        PS3,
        "dead_fraction_per_layer",
        "first_example",
        "decides from one example only",
        """
def dead_fraction_per_layer(model, data):
    x = data if isinstance(data, torch.Tensor) else next(iter(data))[0]
    out = {}
    handles = [m.register_forward_hook(
        lambda mod, i, o, n=n: out.__setitem__(n, (o[0] == 0).float().mean().item()))
        for n, m in model.named_modules() if isinstance(m, ACTIVATION_LAYERS)]
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(x[:1])
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return out
""",
    ),
    wrong(
        PS3,
        "dead_fraction_per_layer",
        "pre_activation_negative",
        "counts inputs < 0 of the activation (misses exactly-zero pre-activations)",
        """
def dead_fraction_per_layer(model, data):
    alive = {}
    def make(n):
        def hook(mod, inputs):
            z = inputs[0]
            a = (z >= 0).transpose(0, 1).reshape(z.shape[1], -1).any(1)
            alive[n] = alive[n] | a if n in alive else a
        return hook
    handles = [m.register_forward_pre_hook(make(n)) for n, m in model.named_modules()
               if isinstance(m, ACTIVATION_LAYERS)]
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            for b in [data] if isinstance(data, torch.Tensor) else data:
                model(b[0] if isinstance(b, (list, tuple)) else b)
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return {n: 1 - a.float().mean().item() for n, a in alive.items()}
""",
    ),
    wrong(
        PS3,
        "dead_fraction_per_layer",
        "hooks_left",
        "never removes its hooks",
        """
def dead_fraction_per_layer(model, data):
    alive = {}
    def make(n):
        def hook(mod, i, o):
            a = (o != 0).transpose(0, 1).reshape(o.shape[1], -1).any(1)
            alive[n] = alive[n] | a if n in alive else a
        return hook
    for n, m in model.named_modules():
        if isinstance(m, ACTIVATION_LAYERS):
            m.register_forward_hook(make(n))
    was = model.training
    model.eval()
    with torch.no_grad():
        for b in [data] if isinstance(data, torch.Tensor) else data:
            model(b[0] if isinstance(b, (list, tuple)) else b)
    model.train(was)
    return {n: 1 - a.float().mean().item() for n, a in alive.items()}
""",
    ),
    wrong(
        PS3,
        "dead_fraction_per_layer",
        "leq_zero",
        "output <= 0 counts as dead (LeakyReLU dies)",
        """
def dead_fraction_per_layer(model, data):
    alive = {}
    def make(n):
        def hook(mod, i, o):
            a = (o > 0).transpose(0, 1).reshape(o.shape[1], -1).any(1)
            alive[n] = alive[n] | a if n in alive else a
        return hook
    handles = [m.register_forward_hook(make(n)) for n, m in model.named_modules()
               if isinstance(m, ACTIVATION_LAYERS)]
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            for b in [data] if isinstance(data, torch.Tensor) else data:
                model(b[0] if isinstance(b, (list, tuple)) else b)
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return {n: 1 - a.float().mean().item() for n, a in alive.items()}
""",
    ),
    wrong(
        PS3,
        "dead_fraction_per_layer",
        "last_batch_only",
        "each batch overwrites the previous one",
        """
def dead_fraction_per_layer(model, data):
    alive = {}
    def make(n):
        def hook(mod, i, o):
            alive[n] = (o != 0).transpose(0, 1).reshape(o.shape[1], -1).any(1)
        return hook
    handles = [m.register_forward_hook(make(n)) for n, m in model.named_modules()
               if isinstance(m, ACTIVATION_LAYERS)]
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            for b in [data] if isinstance(data, torch.Tensor) else data:
                model(b[0] if isinstance(b, (list, tuple)) else b)
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return {n: 1 - a.float().mean().item() for n, a in alive.items()}
""",
    ),
    wrong(
        PS3,
        "dead_fraction_per_layer",
        "mode_not_restored",
        "leaves the model in eval mode",
        """
def dead_fraction_per_layer(model, data):
    alive = {}
    def make(n):
        def hook(mod, i, o):
            a = (o != 0).transpose(0, 1).reshape(o.shape[1], -1).any(1)
            alive[n] = alive[n] | a if n in alive else a
        return hook
    handles = [m.register_forward_hook(make(n)) for n, m in model.named_modules()
               if isinstance(m, ACTIVATION_LAYERS)]
    model.eval()
    try:
        with torch.no_grad():
            for b in [data] if isinstance(data, torch.Tensor) else data:
                model(b[0] if isinstance(b, (list, tuple)) else b)
    finally:
        for h in handles:
            h.remove()
    return {n: 1 - a.float().mean().item() for n, a in alive.items()}
""",
    ),
    wrong(
        PS3,
        "dead_fraction_per_layer",
        "per_element",
        "conv: counts (channel, position) pairs",
        """
def dead_fraction_per_layer(model, data):
    alive = {}
    def make(n):
        def hook(mod, i, o):
            a = (o != 0).any(0).flatten()
            alive[n] = alive[n] | a if n in alive else a
        return hook
    handles = [m.register_forward_hook(make(n)) for n, m in model.named_modules()
               if isinstance(m, ACTIVATION_LAYERS)]
    was = model.training
    try:
        model.eval()
        with torch.no_grad():
            for b in [data] if isinstance(data, torch.Tensor) else data:
                model(b[0] if isinstance(b, (list, tuple)) else b)
    finally:
        for h in handles:
            h.remove()
        model.train(was)
    return {n: 1 - a.float().mean().item() for n, a in alive.items()}
""",
    ),
    right(
        PS3,
        "dead_fraction_per_layer",
        "abs_amax",
        """
def dead_fraction_per_layer(model, data):
    peak = {}
    def make(name):
        def hook(module, inputs, output):
            dims = [d for d in range(output.dim()) if d != 1]
            m = output.abs().amax(dim=dims)
            peak[name] = torch.maximum(peak[name], m) if name in peak else m
        return hook
    handles = []
    for name, module in model.named_modules():
        if isinstance(module, ACTIVATION_LAYERS):
            handles.append(module.register_forward_hook(make(name)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            if isinstance(data, torch.Tensor):
                model(data)
            else:
                for x, *_ in data:
                    model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return {name: float((m == 0).double().mean()) for name, m in peak.items()}
""",
    ),
    right(
        PS3,
        "dead_fraction_per_layer",
        "count_zeros",
        """
def dead_fraction_per_layer(model, data):
    zeros, seen = {}, {}
    def make(name):
        def hook(module, inputs, output):
            per_unit = output.transpose(0, 1).reshape(output.shape[1], -1)
            zeros[name] = zeros.get(name, 0) + (per_unit == 0).sum(dim=1)
            seen[name] = seen.get(name, 0) + per_unit.shape[1]
        return hook
    handles = [module.register_forward_hook(make(name))
               for name, module in model.named_modules()
               if isinstance(module, ACTIVATION_LAYERS)]
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with torch.no_grad():
            batches = (data,) if torch.is_tensor(data) else data
            for batch in batches:
                model(batch if torch.is_tensor(batch) else batch[0])
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    return {name: (zeros[name] == seen[name]).float().mean().item() for name in zeros}
""",
    ),
]

# ---------------------------------------------------------------------- ps3: rescue

RESCUE = [
    wrong(
        PS3,
        "rescue_recipe",
        "still_dying",
        "negative biases and a large learning rate",
        """
def rescue_recipe():
    return {"activation": "relu", "bias_init": -1.0, "lr": 0.5}
""",
    ),
    wrong(
        PS3,
        "rescue_recipe",
        "alive_but_inaccurate",
        "alive (leaky) but too fast to learn",
        """
def rescue_recipe():
    return {"activation": "leaky_relu", "bias_init": -1.0, "lr": 0.5}
""",
    ),
    wrong(
        PS3,
        "rescue_recipe",
        "missing_key",
        "the recipe lacks bias_init",
        """
def rescue_recipe():
    return {"activation": "leaky_relu", "lr": 0.05}
""",
    ),
    right(
        PS3,
        "rescue_recipe",
        "leaky",
        """
def rescue_recipe():
    return dict(activation="leaky_relu", bias_init=0.0, lr=0.2, negative_slope=0.1)
""",
    ),
    right(
        PS3,
        "rescue_recipe",
        "relu_zero_bias",
        """
def rescue_recipe():
    return {"activation": "relu", "bias_init": 0, "lr": 0.2}
""",
    ),
]

# ----------------------------------------------------------------- ps3: dormant units


def _redo(
    *,
    score: str = "mean_abs / layer_mean if layer_mean > 0 else torch.zeros_like(mean_abs)",
    test: str = "scores[j] <= tau",
    row: str = "layer.weight[j].uniform_(-bound, bound)",
    bias: str = "layer.bias[j].uniform_(-bound, bound)",
    out: str = "next_layer.weight[:, j] = 0.0",
    pairs: str = "zip(linears, linears[1:])",
) -> str:
    """The textbook loop (walk the Sequential, then one unit at a time), with one part
    swapped for a mistake in the wrong variants below."""
    return f"""
def reset_dormant_units(model, x, tau=0.1):
    linears = [(name, m) for name, m in model.named_children() if isinstance(m, nn.Linear)]
    counts = {{}}
    with torch.no_grad():
        h, means, last = x, {{}}, None
        for name, module in model.named_children():
            h = module(h)
            if isinstance(module, nn.Linear):
                last = name
            elif isinstance(module, nn.ReLU):
                means[last] = h.abs().mean(dim=0)
        for (name, layer), (_, next_layer) in {pairs}:
            if name not in means:
                continue
            mean_abs = means[name]
            layer_mean = mean_abs.mean()
            scores = {score}
            bound = 1 / math.sqrt(layer.in_features)
            count = 0
            for j in range(layer.out_features):
                if {test}:
                    {row}
                    {bias}
                    {out}
                    count += 1
            counts[name] = count
    return counts
"""


REDO = [
    wrong(
        PS3,
        "reset_dormant_units",
        "random_outgoing",
        "outgoing weights re-initialised at random instead of set to zero",
        _redo(out="next_layer.weight[:, j].uniform_(-0.3, 0.3)"),
    ),
    wrong(
        PS3,
        "reset_dormant_units",
        "raw_means",
        "raw mean |h_j| compared with tau, not divided by the layer's mean",
        _redo(score="mean_abs"),
    ),
    wrong(
        PS3,
        "reset_dormant_units",
        "strict_less",
        "s_j < tau instead of s_j <= tau (misses a score equal to tau)",
        _redo(test="scores[j] < tau"),
    ),
    wrong(
        PS3,
        "reset_dormant_units",
        "no_zero_guard",
        "no rule for a layer mean of 0: 0/0 = nan, so an all-dead layer keeps its units",
        _redo(score="mean_abs / layer_mean"),
    ),
    wrong(
        PS3,
        "reset_dormant_units",
        "bias_not_reset",
        "incoming weights re-initialised, bias left as it was",
        _redo(bias="pass"),
    ),
    wrong(
        PS3,
        "reset_dormant_units",
        "zero_incoming",
        "incoming weights and bias zeroed instead of re-initialised",
        _redo(row="layer.weight[j] = 0.0", bias="layer.bias[j] = 0.0"),
    ),
    wrong(
        PS3,
        "reset_dormant_units",
        "randn_scale",
        "re-initialised with torch.randn (std 1), not U(+-1/sqrt(fan_in))",
        _redo(
            row="layer.weight[j] = torch.randn(layer.in_features)",
            bias="layer.bias[j] = torch.randn(())",
        ),
    ),
    wrong(
        PS3,
        "reset_dormant_units",
        "kaiming_default_a",
        "kaiming_uniform_ with its default a=0: bound sqrt(6/fan_in), not 1/sqrt(fan_in)",
        _redo(
            row="layer.weight[j] = nn.init.kaiming_uniform_(torch.empty(1, layer.in_features))[0]"
        ),
    ),
    wrong(
        PS3,
        "reset_dormant_units",
        "zeroes_own_column",
        "zeroes column j of the same Linear (its inputs), not of the next Linear",
        _redo(out="layer.weight[:, j] = 0.0"),
    ),
    wrong(
        PS3,
        "reset_dormant_units",
        "shifted_pairing",
        "off-by-one pairing: layer k's scores reset Linear k+1 and zero Linear k+2",
        _redo(
            pairs="[((n, a), (m, b)) for (n, _), (_, a), (m, b) "
            "in zip(linears, linears[1:], linears[2:])]"
        ),
    ),
    wrong(
        PS3,
        "reset_dormant_units",
        "resets_output_layer",
        "every Linear scored and reset, the output layer too",
        """
def reset_dormant_units(model, x, tau=0.1):
    linears = [(name, m) for name, m in model.named_children() if isinstance(m, nn.Linear)]
    counts = {}
    with torch.no_grad():
        h, means = x, {}
        for name, module in model.named_children():
            h = module(h)
            if isinstance(module, nn.Linear):
                means[name] = torch.relu(h).mean(dim=0)
        for k, (name, layer) in enumerate(linears):
            mean_abs = means[name]
            scores = mean_abs / mean_abs.mean() if mean_abs.mean() > 0 else mean_abs * 0
            mask = scores <= tau
            fresh = nn.Linear(layer.in_features, layer.out_features)
            layer.weight[mask] = fresh.weight[mask].to(layer.weight.dtype)
            layer.bias[mask] = fresh.bias[mask].to(layer.bias.dtype)
            if k + 1 < len(linears):
                linears[k + 1][1].weight[:, mask] = 0.0
            counts[name] = int(mask.sum())
    return counts
""",
    ),
    wrong(
        PS3,
        "reset_dormant_units",
        "new_parameters",
        "new nn.Parameter objects replace the weight and bias (an optimiser keeps the old)",
        """
from relu_course.diagnostics import dormant_scores


def reset_dormant_units(model, x, tau=0.1):
    linears = [m for m in model if isinstance(m, nn.Linear)]
    counts = {}
    scores = list(dormant_scores(model, x).values())
    for k, (layer, next_layer) in enumerate(zip(linears, linears[1:])):
        mask = scores[k] <= tau
        fresh = nn.Linear(layer.in_features, layer.out_features, dtype=layer.weight.dtype)
        with torch.no_grad():
            layer.weight = nn.Parameter(torch.where(mask[:, None], fresh.weight, layer.weight))
            layer.bias = nn.Parameter(torch.where(mask, fresh.bias, layer.bias))
            next_layer.weight = nn.Parameter(next_layer.weight.masked_fill(mask[None, :], 0.0))
        counts[str(list(model).index(layer))] = int(mask.sum())
    return counts
""",
    ),
    wrong(
        PS3,
        "reset_dormant_units",
        "new_linear",
        "new nn.Linear modules replace the old ones in the Sequential",
        """
import copy


def reset_dormant_units(model, x, tau=0.1):
    counts = {}
    with torch.no_grad():
        h = x
        acts = {}
        for i, module in enumerate(model):
            h = module(h)
            if isinstance(module, nn.ReLU):
                acts[i - 1] = h
        for i, h in acts.items():
            mean_abs = h.abs().mean(dim=0)
            scores = mean_abs / mean_abs.mean() if mean_abs.mean() > 0 else mean_abs * 0
            mask = scores <= tau
            old = model[i]
            new = nn.Linear(old.in_features, old.out_features, dtype=old.weight.dtype)
            new.weight[~mask] = old.weight[~mask]
            new.bias[~mask] = old.bias[~mask]
            model[i] = new
            nxt = copy.deepcopy(model[i + 2])
            nxt.weight[:, mask] = 0.0
            model[i + 2] = nxt
            counts[str(i)] = int(mask.sum())
    return counts
""",
    ),
    right(PS3, "reset_dormant_units", "textbook_loop", _redo()),
    right(
        PS3,
        "reset_dormant_units",
        "chapter12_masks",
        """
from itertools import pairwise

from relu_course.diagnostics import dormant_scores


def reset_dormant_units(model, x, tau=0.1):
    # chapter 12's redo(): the course's scores, a fresh nn.Linear for the new values
    names = [name for name, m in model.named_children() if isinstance(m, nn.Linear)]
    scores = dormant_scores(model, x)  # one entry per ReLU, input to output
    counts = {}
    for (a, b), score in zip(pairwise(names), scores.values(), strict=False):
        incoming, outgoing = model.get_submodule(a), model.get_submodule(b)
        dormant = score <= tau
        new = nn.Linear(incoming.in_features, incoming.out_features)
        with torch.no_grad():
            incoming.weight[dormant] = new.weight[dormant].to(incoming.weight.dtype)
            incoming.bias[dormant] = new.bias[dormant].to(incoming.bias.dtype)
            outgoing.weight[:, dormant] = 0.0
        counts[a] = int(dormant.sum())
    return counts
""",
    ),
    right(
        PS3,
        "reset_dormant_units",
        "hooks_and_kaiming_temp",
        """
def reset_dormant_units(model, x, tau=0.1):
    children = list(model.named_children())
    acts, handles = {}, []
    for i, (name, module) in enumerate(children):
        if isinstance(module, nn.ReLU):
            incoming = children[i - 1][0]

            def hook(mod, inp, out, key=incoming):
                acts[key] = out.detach()

            handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    counts = {}
    linear_names = [n for n, m in children if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for name, h in acts.items():
            layer = model.get_submodule(name)
            next_layer = model.get_submodule(linear_names[linear_names.index(name) + 1])
            per_unit = h.abs().mean(dim=0)
            if per_unit.mean() == 0:
                dormant = torch.ones_like(per_unit, dtype=torch.bool)
            else:
                dormant = per_unit / per_unit.mean() <= tau
            idx = torch.nonzero(dormant).flatten()
            if len(idx):
                fresh_w = torch.empty(len(idx), layer.in_features, dtype=layer.weight.dtype)
                nn.init.kaiming_uniform_(fresh_w, a=math.sqrt(5))
                bound = 1 / math.sqrt(layer.in_features)
                layer.weight[idx] = fresh_w
                fresh_b = torch.empty(len(idx), dtype=layer.bias.dtype)
                layer.bias[idx] = fresh_b.uniform_(-bound, bound)
                next_layer.weight[:, idx] = 0
            counts[name] = len(idx)
    return counts
""",
    ),
    right(
        PS3,
        "reset_dormant_units",
        "torch_where_float64_scores",
        """
def reset_dormant_units(model, x, tau=0.1):
    layers = list(model)
    counts = {}
    with torch.no_grad():
        outputs = []
        h = x
        for module in layers:
            h = module(h)
            outputs.append(h)
        for i, module in enumerate(layers):
            if not isinstance(module, nn.ReLU):
                continue
            layer, next_layer = layers[i - 1], layers[i + 1]
            activity = outputs[i].double().abs().sum(dim=0)  # n * E|h_j|
            total = activity.sum()
            n_units = activity.numel()
            score = torch.where(total > 0, activity * n_units / total.clamp(min=1e-300),
                                torch.zeros_like(activity))
            mask = score <= tau
            fresh = nn.Linear(layer.in_features, layer.out_features, dtype=layer.weight.dtype)
            layer.weight.copy_(torch.where(mask[:, None], fresh.weight, layer.weight))
            layer.bias.copy_(torch.where(mask, fresh.bias, layer.bias))
            next_layer.weight.copy_(
                torch.where(mask[None, :], torch.zeros_like(next_layer.weight), next_layer.weight)
            )
            counts[str(i - 1)] = int(mask.sum().item())
    return counts
""",
    ),
    right(
        PS3,
        "reset_dormant_units",
        "all_rows_then_all_columns",
        """
def reset_dormant_units(model, x, tau=0.1):
    # first decide every layer, then re-initialise all rows, then zero all columns
    names = [n for n, m in model.named_children() if isinstance(m, nn.Linear)]
    masks = {}
    with torch.no_grad():
        h = x
        for name, module in model.named_children():
            h = module(h)
            if isinstance(module, nn.ReLU):
                m = h.abs().mean(0)
                s = m / m.mean() if m.mean() > 0 else torch.zeros_like(m)
                masks[prev] = s <= tau
            prev = name
        for name, mask in masks.items():
            layer = model.get_submodule(name)
            bound = 1.0 / layer.in_features ** 0.5
            new_w = (torch.rand_like(layer.weight) * 2 - 1) * bound
            new_b = (torch.rand_like(layer.bias) * 2 - 1) * bound
            layer.weight[mask] = new_w[mask]
            layer.bias[mask] = new_b[mask]
        for name, mask in masks.items():
            nxt = model.get_submodule(names[names.index(name) + 1])
            nxt.weight[:, mask] = 0.0
    return {name: int(mask.sum()) for name, mask in masks.items()}
""",
    ),
]

# ------------------------------------------------------------ ps4: autograd Function

_FN_HEAD = """
class LeakyReLUFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, negative_slope=0.01):
"""

FUNCTION = [
    wrong(
        PS4,
        "LeakyReLUFunction",
        "kink_one",
        "x >= 0 gives slope 1 at the kink",
        _FN_HEAD
        + """
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return torch.where(x > 0, x, x * negative_slope)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * torch.where(x >= 0, 1.0, ctx.negative_slope).to(x.dtype), None
""",
    ),
    wrong(
        PS4,
        "LeakyReLUFunction",
        "ignores_grad_output",
        "returns the local slope only",
        _FN_HEAD
        + """
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return torch.where(x > 0, x, x * negative_slope)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return torch.where(x > 0, 1.0, ctx.negative_slope).to(x.dtype), None
""",
    ),
    wrong(
        PS4,
        "LeakyReLUFunction",
        "max_forward",
        "max(x, a x): wrong for a > 1",
        _FN_HEAD
        + """
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return torch.maximum(x, x * negative_slope)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * torch.where(x > 0, 1.0, ctx.negative_slope).to(x.dtype), None
""",
    ),
    wrong(
        PS4,
        "LeakyReLUFunction",
        "in_place",
        "scales the caller's tensor in place",
        _FN_HEAD
        + """
        ctx.negative_slope = negative_slope
        ctx.save_for_backward(x > 0)
        x[x <= 0] *= negative_slope
        return x.clone()

    @staticmethod
    def backward(ctx, grad_output):
        (positive,) = ctx.saved_tensors
        return grad_output * torch.where(positive, 1.0, ctx.negative_slope).to(
            grad_output.dtype), None
""",
    ),
    wrong(
        PS4,
        "LeakyReLUFunction",
        "relu_backward",
        "backward of ReLU: 0 on the negative side",
        _FN_HEAD
        + """
        ctx.save_for_backward(x)
        return torch.where(x > 0, x, x * negative_slope)

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * (x > 0).to(grad_output.dtype), None
""",
    ),
    right(
        PS4,
        "LeakyReLUFunction",
        "saved_output",
        _FN_HEAD
        + """
        out = torch.where(x > 0, x, negative_slope * x)
        ctx.save_for_backward(x)
        ctx.slope = negative_slope
        return out

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        positive = (x > 0).to(grad_output.dtype)
        return grad_output * positive + grad_output * (1 - positive) * ctx.slope, None
""",
    ),
    right(
        PS4,
        "LeakyReLUFunction",
        "mask_arithmetic",
        _FN_HEAD
        + """
        mask = x > 0
        ctx.save_for_backward(mask)
        ctx.negative_slope = negative_slope
        return x * mask + negative_slope * x * (~mask)

    @staticmethod
    def backward(ctx, grad_output):
        (mask,) = ctx.saved_tensors
        grad = grad_output.clone()
        grad[~mask] *= ctx.negative_slope
        return grad, None
""",
    ),
]

# --------------------------------------------------------------------- ps4: PReLU

_PRELU_INIT = """
class PReLU(nn.Module):
    def __init__(self, num_parameters=1, init=0.25):
        super().__init__()
"""

PRELU = [
    wrong(
        PS4,
        "PReLU",
        "not_learnable",
        "slope stored as a plain tensor",
        _PRELU_INIT
        + """
        self.num_parameters = num_parameters
        self.weight = torch.full((num_parameters,), float(init))

    def forward(self, x):
        w = self.weight.reshape(1, -1, *([1] * (x.dim() - 2))) if self.num_parameters > 1 \\
            else self.weight
        return torch.where(x > 0, x, w * x)
""",
    ),
    wrong(
        PS4,
        "PReLU",
        "positive_side",
        "slope on the positive side",
        _PRELU_INIT
        + """
        self.num_parameters = num_parameters
        self.weight = nn.Parameter(torch.full((num_parameters,), float(init)))

    def forward(self, x):
        w = self.weight.reshape(1, -1, *([1] * (x.dim() - 2))) if self.num_parameters > 1 \\
            else self.weight
        return torch.where(x > 0, w * x, x)
""",
    ),
    wrong(
        PS4,
        "PReLU",
        "last_dim_channels",
        "broadcasts the slopes along the last dim",
        _PRELU_INIT
        + """
        self.weight = nn.Parameter(torch.full((num_parameters,), float(init)))

    def forward(self, x):
        return torch.where(x > 0, x, self.weight * x)
""",
    ),
    wrong(
        PS4,
        "PReLU",
        "item_slope",
        "float(weight) cuts the gradient to the slope",
        _PRELU_INIT
        + """
        self.weight = nn.Parameter(torch.full((num_parameters,), float(init)))

    def forward(self, x):
        if self.weight.numel() == 1:
            return torch.where(x > 0, x, self.weight.item() * x)
        w = self.weight.detach().reshape(1, -1, *([1] * (x.dim() - 2)))
        return torch.where(x > 0, x, w * x)
""",
    ),
    wrong(
        PS4,
        "PReLU",
        "f_prelu",
        "F.prelu, which the notebook forbids",
        _PRELU_INIT
        + """
        self.weight = nn.Parameter(torch.full((num_parameters,), float(init)))

    def forward(self, x):
        return F.prelu(x, self.weight)
""",
    ),
    wrong(
        PS4,
        "PReLU",
        "nn_prelu_subclass",
        "a subclass of nn.PReLU (it calls F.prelu, which the notebook forbids)",
        """
class PReLU(nn.PReLU):
    pass
""",
    ),
    right(
        PS4,
        "PReLU",
        "relu_difference",
        _PRELU_INIT
        + """
        self.weight = nn.Parameter(init * torch.ones(num_parameters))

    def forward(self, x):
        shape = [1] * x.dim()
        if self.weight.numel() > 1:
            shape[1] = -1
        w = self.weight.view(shape) if x.dim() else self.weight
        return F.relu(x) - w * F.relu(-x)
""",
    ),
]

# ---------------------------------------------------------------- ps4: digits model

DIGITS = [
    wrong(
        PS4,
        "train_digits_model",
        "untrained",
        "returns the model without training it",
        """
def train_digits_model(X_train, y_train, device):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)).to(device)
""",
    ),
    wrong(
        PS4,
        "train_digits_model",
        "too_little",
        "one epoch at a tiny learning rate",
        """
def train_digits_model(X_train, y_train, device):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    for start in range(0, len(X_train), 128):
        loss = F.cross_entropy(model(X_train[start:start + 128].to(device)),
                               y_train[start:start + 128].to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model
""",
    ),
    right(
        PS4,
        "train_digits_model",
        "sgd_two_hidden",
        """
def train_digits_model(X_train, y_train, device):
    from torch.utils.data import DataLoader, TensorDataset
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(64, 96), nn.ReLU(), nn.Linear(96, 96), nn.ReLU(),
                          nn.Linear(96, 10)).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loader = DataLoader(TensorDataset(X_train, y_train), batch_size=32, shuffle=True)
    for _ in range(15):
        for xb, yb in loader:
            xb, yb = xb.to(device), yb.to(device)
            opt.zero_grad()
            F.cross_entropy(model(xb), yb).backward()
            opt.step()
    return model
""",
    ),
    right(
        PS4,
        "train_digits_model",
        "own_prelu",
        """
def train_digits_model(X_train, y_train, device):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), PReLU(), nn.Linear(128, 10)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(20):
        order = torch.randperm(len(X_train))
        for start in range(0, len(X_train), 64):
            batch = order[start:start + 64]
            loss = F.cross_entropy(model(X_train[batch].to(device)), y_train[batch].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model
""",
    ),
    right(
        PS4,
        "train_digits_model",
        "slow_53_s",
        f"""
def train_digits_model(X_train, y_train, device):
    # An honest answer that uses most of the stated budget (55 s): it trains, then
    # waits until {SLOW_TRAINER_SECONDS} s have passed, like a slow laptop would.
    start = time.perf_counter()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    X, y = X_train.to(device), y_train.to(device)
    for _ in range(20):
        order = torch.randperm(len(X), device=device)
        for first in range(0, len(X), 64):
            batch = order[first:first + 64]
            loss = F.cross_entropy(model(X[batch]), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
    time.sleep(max(0.0, {SLOW_TRAINER_SECONDS} - (time.perf_counter() - start)))
    return model
""",
    ),
]

ALL: list[Variant] = [
    *XAVIER,
    *HE,
    *BUILD,
    *GRAD,
    *DEAD,
    *RESCUE,
    *REDO,
    *FUNCTION,
    *PRELU,
    *DIGITS,
]


def variants(assignment: str, *, correct: bool | None = None) -> list[Variant]:
    """The corpus of one assignment, optionally only the correct or the wrong ones."""
    return [
        v for v in ALL if v.assignment == assignment and (correct is None or v.correct == correct)
    ]
