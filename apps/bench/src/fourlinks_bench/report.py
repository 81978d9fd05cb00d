"""The readable table of a benchmark run: every figure beside its same-run baseline."""

from __future__ import annotations

from typing import Any


def table(results: dict[str, Any]) -> str:
    """Markdown tables of `results` (as `fourlinks bench` wrote them)."""
    lines = [_header(results), "", "| figure | ours | baseline (same run) | ratio |", "|---|---|---|---|"]
    lines += _commands(results.get("command_path", {}))
    lines += _replay(results)
    lines += _loads(results.get("aggregate_loads", {}))
    for loop in results.get("loop_latency", {}).values():
        lines.append(
            f"| loop: feedback → task assigned, at {loop['background_commands_per_second']:g} commands/s "
            f"background | p50 {loop['p50_ms']} ms, p99 {loop['p99_ms']} ms (n={loop['count']}) | | |"
        )
    for name, figures in results.get("queries", {}).items():
        lines.append(
            f"| query {name} | p50 {figures['p50_ms']} ms, p99 {figures['p99_ms']} ms, "
            f"first {figures['first_ms']} ms | | |"
        )
    for page, figures in results.get("console_pages", {}).items():
        cpu = ", ".join(f"{k} {v}" for k, v in figures["cpu_ms_per_page"].items())
        lines.append(
            f"| console page {page} | p50 {figures['p50_ms']} ms, p95 {figures['p95_ms']} ms, "
            f"p99 {figures['p99_ms']} ms; CPU ms per page: {cpu} | | |"
        )
    lines += _memory(results)
    return "\n".join(lines)


def _loads(figures: dict[str, Any]) -> list[str]:
    lines = []
    for key, label in (
        ("written_first_warm", "load an aggregate written when the year began, warm"),
        ("written_last_warm", "load an aggregate written last, warm"),
        ("written_first_after_restart", "load one written when the year began, after a server restart"),
        ("households_warm", "load a household (registered when the year began, visited all year), warm"),
        ("households_after_restart", "load a household, first touch after a server restart"),
    ):
        load = figures.get(key)
        if load:
            lines.append(
                f"| {label} (n={load['loads']}) | p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, "
                f"first {load['first_ms']} ms; server CPU {load['server_cpu_ms_per_load']} ms a load | | |"
            )
    if "first_to_last_p99_ratio" in figures:
        lines.append(f"| · p99 written first / written last | {figures['first_to_last_p99_ratio']} | | |")
    kept = figures.get("kept_aggregates_full")
    if kept:
        lines.append(
            f"| kept aggregates, a full cache ({kept['aggregates']:,}) | {kept['mib']} MiB "
            f"({kept['kib_per_aggregate']} KiB each) | | |"
        )
    return lines


def _header(results: dict[str, Any]) -> str:
    machine, data = results.get("machine", {}), results.get("dataset", {})
    return (
        f"plan {results.get('plan', '?')}, {data.get('events', 0):,} events (scale {data.get('scale')}), "
        f"{machine.get('cpus')} CPUs, Python {machine.get('python')}, {machine.get('when')}"
    )


def _commands(figures: dict[str, Any]) -> list[str]:
    lines = []
    for concurrency in (1, 32):
        ours = figures.get(f"c{concurrency}")
        if not ours:
            continue
        raw, rate = ours["raw_publish_ack"], f"{ours['commands_per_second']:,}"
        lines.append(
            f"| commands/s, mix over HTTP, c={concurrency} "
            f"(p50 {ours['p50_ms']} ms, p99 {ours['p99_ms']} ms) "
            f"| {rate} | raw publish+ack {raw['per_second']:,} "
            f"(p99 {raw['p99_ms']} ms) | {ours['ratio_to_raw']} |"
        )
        cpu = ours.get("cpu_ms_per_command")
        if cpu:
            shares = ", ".join(f"{name} {ms} ms" for name, ms in cpu.items())
            lines.append(
                f"| · CPU per command of the mix, c={concurrency}, per process (a visit to a household "
                f"of the year's start, a feedback, a task's seven steps) | {shares} | | |"
            )
        kernel = ours.get("kernel_in_process")
        if kernel:
            lines.append(
                f"| commands/s, c={concurrency}, kernel in process (load a task, one event, append; "
                f"p99 {kernel['p99_ms']} ms) | {kernel['per_second']:,} "
                f"| raw publish+ack {raw['per_second']:,} | {ours['kernel_ratio_to_raw']} |"
            )
        alone = ours.get("kernel_appending_one_by_one")
        if kernel and alone:
            lines.append(
                f"| · kernel in process, c={concurrency}: group commit vs appending one by one "
                f"| {kernel['per_second']:,} | {alone['per_second']:,} | {ours['group_commit_ratio']} |"
            )
        for kind in ("postgresql", "sqlite"):
            library = ours.get(f"eventsourcing_{kind}")
            if kernel and library:
                lines.append(
                    f"| · kernel in process vs eventsourcing ({kind}), c={concurrency} "
                    f"| {kernel['per_second']:,} | {library['per_second']:,} "
                    f"| {kernel['per_second'] / library['per_second']:.2f} |"
                )
            if library:
                lines.append(
                    f"| commands/s, c={concurrency} vs eventsourcing ({kind}) | {rate} "
                    f"| {library['per_second']:,} (p99 {library['p99_ms']} ms) "
                    f"| {ours[f'ratio_to_eventsourcing_{kind}']} |"
                )
    return lines


def _replay(results: dict[str, Any]) -> list[str]:
    raw = results.get("replay_raw_ordered_consumer", {}).get("per_second", 0)
    library = results.get("replay_eventsourcing", {})
    lines = []
    for kind in ("sqlite", "postgresql"):
        figures = results.get(f"replay_{kind}", {})
        if "skipped" in figures:
            lines.append(f"| replay into {kind} | skipped: {figures['skipped']} | | |")
            continue
        if not figures:
            continue
        once = figures.get("one_read") or figures["all_services"]
        ours = once["log_events_per_second"]
        lines.append(
            f"| replay, every read model, into {kind}, one read (`replay rebuild --all`, events/s) "
            f"| {ours:,} ({once['seconds']} s) | raw ordered consumer + JSON {raw:,} | {ours / raw:.3f} |"
            if raw
            else f"| replay, every read model, into {kind} (events/s) | {ours:,} | | |"
        )
        cpu = once.get("cpu_seconds")
        if cpu:
            spent = ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
            lines.append(f"| · CPU seconds by process | {spent} | | |")
        lines.append(
            f"| · one service after another | {figures['all_services']['log_events_per_second']:,} "
            f"({figures['all_services']['seconds']} s) | | |"
        )
        for service in ("members", "assignments", "feedback", "notifications"):
            lines.append(
                f"| · {service} alone | {figures[service]['log_events_per_second']:,} "
                f"({figures[service]['seconds']} s) | | |"
            )
        read = library.get("postgresql" if kind == "postgresql" else "sqlite")
        if read:
            lines.append(f"| · eventsourcing library reads+decodes ({kind}) | | {read['per_second']:,} | |")
    return lines


def _memory(results: dict[str, Any]) -> list[str]:
    lines = []
    for kind in ("sqlite", "postgresql"):
        figures = results.get(f"replay_{kind}", {})
        for service in ("members", "assignments", "feedback"):
            if service in figures:
                lines.append(
                    f"| peak RSS, {service} replay ({kind}) | {figures[service]['peak_rss_mb']} MiB | | |"
                )
    for service, megabytes in results.get("memory_under_load_mb", {}).items():
        lines.append(f"| peak RSS, {service} service under load | {megabytes} MiB | | |")
    return lines
