"""GenMLX through its public API only, as a user writes it, on each installed backend.

Rows per backend:
- "eager": W1 / X1 `gm.vgenerate(model, ...)` (one batched body run for N
  particles); W2 `gm.inference.mcmc.mh_custom` with a random-walk @gen proposal
  (a Python loop of GFI calls: run for W2_EAGER_STEPS steps, time extrapolated
  to 5,000); W5 `genmlx.inference.vectorized.vectorized_mh` (all chains advance
  together, one batched regenerate per step; run for W5_EAGER_STEPS steps, time
  extrapolated to 1,000).
- "compiled": W1 / X1 `gm.vgenerate(gm.compile(model), ...)`; W2 / W5
  `genmlx.inference.mcmc.fused.mh` with the same random-walk proposal (compiled
  blocks of steps; many chains by vmap).
W4: n/a, GenMLX has no particle filter yet.
"""

from __future__ import annotations

from benchmarks.compare import workloads as wl
from benchmarks.compare.systems import Task, Unsupported

# eager MCMC runs a Python loop per step (milliseconds each): shortened runs whose
# time is scaled to the full run (marked "~")
W2_EAGER_STEPS = 500
W5_EAGER_STEPS = 200
FUSED_MLX_W2_STEPS = 1000


def unavailable() -> str | None:
    try:
        import genmlx  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - a broken install is a reason to show
        return f"genmlx does not import: {type(exc).__name__}: {exc}"
    return None


def variants(backends) -> list[str]:
    import genmlx as gm

    names = gm.installed_backends() if backends is None else backends
    return [f"{b} {mode}" for b in names for mode in ("eager", "compiled")]


def _xs() -> list:
    return [float(v) for v in wl.data().x]


def build(workload: str, size: int, variant: str) -> Task:
    import genmlx as gm

    from benchmarks.compare.systems import genmlx_models as m

    backend_name, mode = variant.split()
    if workload == "W4":
        raise Unsupported("SMC not built yet")
    # NumPy's compile capability is the identity (README: Backends)
    has_compiler = backend_name != "numpy"

    def on_backend(fn):
        # every call runs inside the backend's scope (a ContextVar), like a user's `with`
        def run(seed: int) -> dict:
            with gm.use_backend(backend_name) as b:
                return fn(b, gm.key(seed))
        return run

    if workload in ("W1", "X1"):
        if mode == "compiled" and not has_compiler:
            raise Unsupported(f"the {backend_name} backend has no compiler: gm.compile runs "
                              "the handler path, the eager row")
        base = m.linreg if workload == "W1" else m.gmm
        model = gm.compile(base) if mode == "compiled" else base
        if workload == "W1":
            args, obs = (_xs(),), m.linreg_observations()
        else:
            args, obs = (len(wl.data().gmm_y), wl.data().gmm_k), m.gmm_observations()

        def importance(b, key):
            res = gm.vgenerate(model, args, obs, size, key=key)
            out = {"log_w": b.to_numpy(res.weight)}
            if workload == "W1":
                out["slope"] = b.to_numpy(res.trace["slope"])
            return out

        return Task(on_backend(importance),
                    note="vgenerate(gm.compile(model))" if mode == "compiled" else "vgenerate")

    if workload in ("W2", "W5") and mode == "compiled":
        return _fused(workload, size, backend_name, on_backend)

    if workload == "W2":
        from genmlx.inference import mcmc

        xs, obs = _xs(), m.linreg_observations()
        start = gm.choicemap({"slope": 0.0, "intercept": 0.0})
        steps = min(size, W2_EAGER_STEPS)

        def w2(b, key):
            k_init, k_run = gm.split(key, 2)
            # W2 starts at (0, 0): the initial trace constrains both latents there
            init = m.linreg.generate((xs,), obs.merge(start), key=k_init).trace
            samples = mcmc.mh_custom(m.linreg, (xs,), obs, m.rw_proposal, samples=steps,
                                     burn=0, key=k_run, initial_trace=init, progress=False)
            return {"slope": samples.draws("slope")[0], "accept": samples.acceptance_rate}

        return Task(on_backend(w2), time_scale=size / steps,
                    note=f"mcmc.mh_custom, {steps} of {size} steps run, time scaled")

    if workload == "W5":
        from genmlx.inference.vectorized import vectorized_mh

        xs, obs = _xs(), m.linreg_observations()
        steps = min(wl.W5_STEPS, W5_EAGER_STEPS)

        def w5(b, key):
            res = vectorized_mh(m.linreg, (xs,), obs, gm.select("slope", "intercept"), size,
                                steps, record=["slope"], key=key)
            slopes = b.to_numpy(res.samples[("slope",)])            # [steps, chains]
            return {"slope": slopes.T, "accept": b.to_numpy(res.acceptance_rate)}

        return Task(on_backend(w5), time_scale=wl.W5_STEPS / steps,
                    note=f"vectorized_mh: PRIOR-proposal MH from prior draws (it takes no "
                         f"custom proposal), {steps} of {wl.W5_STEPS} steps run, time scaled")
    raise Unsupported(f"genmlx: no {workload}")


def _fused(workload: str, size: int, backend_name: str, on_backend) -> Task:
    """W2 / W5 through `genmlx.inference.mcmc.fused.mh`: blocks of steps as one
    compiled scan (many chains by vmap), chains starting at (0, 0), on the model
    written with its observations as one vector-valued site (the same math)."""
    from genmlx.inference.mcmc import fused

    from benchmarks.compare.systems import genmlx_models as m

    if backend_name == "numpy":
        raise Unsupported("the numpy backend has no compiler: fused.mh runs its eager scan, "
                          "and vmap is a Python loop over the chains")
    start = {"slope": 0.0, "intercept": 0.0}
    if workload == "W2":
        # MLX unrolls each 16-step block under compile (fused.py): ~4 ms a step here
        steps = min(size, FUSED_MLX_W2_STEPS) if backend_name == "mlx" else size

        def w2(b, key):
            x, obs = m.linreg_vec_data()
            res = fused.mh(m.linreg_vec, (x,), obs, proposal=m.rw_proposal, num_samples=steps,
                           record=["slope"], init=start, key=key, progress=False)
            return {"slope": res.draws("slope")[0], "accept": float(res.acceptance[0])}

        note = "fused.mh(proposal=rw), vector-valued y site"
        if steps != size:
            note += f", {steps} of {size} steps run, time scaled"
        return Task(on_backend(w2), time_scale=size / steps, note=note)

    def w5(b, key):
        x, obs = m.linreg_vec_data()
        res = fused.mh(m.linreg_vec, (x,), obs, proposal=m.rw_proposal, num_samples=wl.W5_STEPS,
                       num_chains=size, record=["slope"], init=start, key=key, progress=False)
        return {"slope": res.draws("slope"), "accept": res.acceptance}

    return Task(on_backend(w5), note="fused.mh(proposal=rw, num_chains), vector-valued y site")
