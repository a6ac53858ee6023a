"""Daily briefing (每日简报): yesterday's figures as PNG (chat groups), PDF (print) and Markdown.

``compose`` gathers a :class:`~dashboard.briefing.compose.Briefing` from the read API;
``charts``, ``render_png``, ``render_pdf`` and ``render_markdown`` turn it into files; ``files``
writes them under ``var/briefings/`` and lists earlier ones; ``schedule`` decides when the
scheduler process runs. Rendering never touches the network: the CJK font comes from an installed
wheel (``fonts``) and the map is drawn from our own district polygons.
"""
