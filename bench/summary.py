"""What bench.run writes after its arms: the summary (MFU, same-call ratios, parity) and its table."""

from __future__ import annotations

import datetime as dt

from bench.mfu import flops_4n, flops_full, flops_nemo_lora, mfu


def summarise(a, p, results, shape_name, t_build) -> dict:
    """The call's summary: each arm with its MFU, the same-call ratios, loss parity, the estimate's error."""
    from forge.plan.memory import SHAPES

    shape = SHAPES[shape_name]
    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    for r in results.values():
        if r.get("real_tokens_per_s"):
            tps, att = r["real_tokens_per_s"], r.get("attended_mean", 0)
            r["mfu_4n"] = mfu(tps, flops_4n(shape))
            r["mfu_full"] = mfu(tps, flops_full(shape, 16, targets, att))
            r["mfu_nemo"] = mfu(tps, flops_nemo_lora(shape, 16, targets, att))
    ratios = {}
    tok = {k: r.get("real_tokens_per_s") for k, r in results.items()}
    pairs = "c/a c/b c/c0 c/ce c/cd f/a f/c c2/a c2/c g/c g0/c g1/c g/a g/g0 g/g1 g2/c g3/c g/g2 p8/p16 pg/p16"
    for top, base in (pair.split("/") for pair in pairs.split()):
        if tok.get(top) and tok.get(base):
            ratios[f"{top}/{base}"] = tok[top] / tok[base]
    p16, p8 = results.get("p16", {}).get("final_eval_loss"), results.get("p8", {}).get("final_eval_loss")
    parity = None
    pg = results.get("pg", {}).get("final_eval_loss")
    if p16 and (p8 or pg):
        from forge.plan.fp8 import parity_ok

        parity = {"bf16": p16}
        for key, loss in (("fp8", p8), ("fp8_matmul", pg)):
            if loss:
                parity |= {key: loss, f"{key}_relative": loss / p16 - 1, f"{key}_within_1pct": parity_ok(p16, loss)}
    est = p.memory.to_dict() if p.memory else None
    meas = results.get("c", {}).get("peak_reserved_gb")
    return {
        "date": dt.date.today().isoformat(),
        "model": a.model,
        "shape": shape_name,
        "profile": a.profile,
        "rows": a.rows,
        "seconds": a.seconds,
        "build_s": t_build,
        "plan": p.to_dict(),
        "plan_memory_estimate_gb": est and est["torch_peak_gb"],
        "measured_peak_reserved_c_gb": meas,
        "estimate_error": (est["torch_peak_gb"] / meas - 1) if (est and meas) else None,
        "ratios": ratios,
        "parity": parity,
        "arms": results,
    }


def _weights(st: dict) -> str:
    return (
        "FP8" if (st.get("load_in_fp8") or st.get("fp8_matmul")) else ("4-bit" if st.get("load_in_4bit") else "16-bit")
    )


def _f(v, fmt="{:,.0f}"):
    return fmt.format(v) if isinstance(v, (int, float)) else "-"


def markdown(s: dict) -> str:
    arms = s["arms"]
    anyr = next((r for r in arms.values() if r.get("versions")), {})
    v = anyr.get("versions", {})
    lines = [
        f"### {s['model']} ({s['shape']} shape, random init), {s['profile']} data, {s['date']}",
        "",
        f"Card: {anyr.get('device', '?')}. Versions: " + ", ".join(f"{k} {x}" for k, x in v.items() if x) + ".",
        f"Data: {s['rows']} synthetic rows; measured {s['seconds']:.0f} s after 3 warm-up steps per arm.",
        "",
        "| arm | micro-batch x accum | packing | weights | ckpt | real tok/s | trained tok/s | pad eff | "
        "MFU 4N | MFU full | MFU NeMo LoRA | peak alloc / reserved GB | import / load / data / 1st step s "
        "| init / final eval loss |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    names = {
        "a": "(a) original",
        "b": "(b) TRL+PEFT",
        "c": "(c) forge",
        "c0": "(c0) forge, Unsloth's per-segment attention",
        "c2": "(c2) forge variant",
        "ce": "(ce) forge, Unsloth's block compile off",
        "cd": "(cd) forge, torch.compile off",
        "f": "(f) forge, FP8 base",
        "p16": "(p16) parity, bf16",
        "p8": "(p8) parity, FP8",
        "g": "(g) forge, FP8 base products",
        "g0": "(g0) FP8 base products, unfused",
        "g1": "(g1) FP8 base products, x quantised per product",
        "g2": "(g2) FP8 base products, torchao's fast forward / per-tensor dx",
        "g3": "(g3) FP8 base products, fast accumulation in both",
        "pg": "(pg) parity, FP8 base products",
    }
    for k in names:
        r = arms.get(k)
        if r is None:
            continue
        if not r.get("ok"):
            lines.append(f"| {names[k]} | failed: {str(r.get('error', '?'))[:160]} |" + " |" * 12)
            continue
        st, tm = r.get("settings", {}), r.get("timing", {})
        lines.append(
            f"| {names[k]} | {st.get('per_device_train_batch_size')} x {st.get('gradient_accumulation_steps')} "
            f"| {st.get('packing')} | {_weights(st)} | {st.get('gradient_checkpointing')} "
            f"| {_f(r.get('real_tokens_per_s'))} | {_f(r.get('trained_tokens_per_s'))} "
            f"| {_f(r.get('padding_efficiency'), '{:.2f}')} | {_f(r.get('mfu_4n'), '{:.1%}')} "
            f"| {_f(r.get('mfu_full'), '{:.1%}')} | {_f(r.get('mfu_nemo'), '{:.1%}')} "
            f"| {_f(r.get('peak_allocated_gb'), '{:.1f}')} / {_f(r.get('peak_reserved_gb'), '{:.1f}')} "
            f"| {_f(tm.get('import_s'), '{:.0f}')} / {_f(tm.get('load_s'), '{:.0f}')} / "
            f"{_f(tm.get('data_s'), '{:.0f}')} / {_f(tm.get('first_step_s'), '{:.1f}')} "
            f"| {_f(r.get('init_eval_loss'), '{:.4f}')} / {_f(r.get('final_eval_loss'), '{:.4f}')} |"
        )
    lines.append("")
    rat = ", ".join(f"{k} = {x:.2f}x" for k, x in s["ratios"].items()) or "n/a"
    lines.append(f"Ratios of real tokens/s: {rat}.")
    if s.get("parity"):
        pr = s["parity"]
        for key, label in (("fp8", "FP8 (Unsloth)"), ("fp8_matmul", "FP8 base products")):
            if key in pr:
                lines.append(
                    f"Loss parity after the parity steps: bf16 {pr['bf16']:.4f}, {label} {pr[key]:.4f} "
                    f"({pr[key + '_relative']:+.2%}; within 1%: {pr[key + '_within_1pct']})."
                )
    if s.get("estimate_error") is not None:
        lines.append(
            f"Plan's memory estimate for (c): {s['plan_memory_estimate_gb']:.1f} GB (torch reserved) vs measured "
            f"{s['measured_peak_reserved_c_gb']:.1f} GB ({s['estimate_error']:+.0%})."
        )
    lines.append("")
    return "\n".join(lines)
