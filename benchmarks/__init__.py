"""``make bench`` (``python -m benchmarks``): the speed and quality figures of BENCHMARKS.md, one small module per figure.

Every section is a function ``run(ctx) -> <Result dataclass>``; the result knows how to write
its own part of the report (``markdown()``), which targets it checks (``targets()``) and its
one-line headline (``headline()``). Each figure is a ratio against a reference measured in
the same process (ORT vs torch eager, search vs one embedding, SQ8 vs Flat, CNN vs a colour
histogram …), because on a shared 2-core machine absolute timings drift from run to run while
ratios of interleaved runs hold up. :mod:`benchmarks.runner` runs the sections in order
and writes the markdown and a JSON dump of every number.

Sections: ``embed_throughput``, ``search_latency``, ``memory``, ``cifar_map``,
``wikiart_style_map``, ``camera_snaps``.
"""
