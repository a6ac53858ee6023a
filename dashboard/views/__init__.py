"""View models of the console pages: plain functions from read-API results to what a page shows, one module per page.

Why here and not in the pages: pages are Streamlit scripts that are awkward to test; these functions
take plain data and return plain data (dataclasses, dicts, DataFrames), so unit tests and AppTest
cover the logic, and the pages stay a thin layer of widgets. :mod:`.common` formats, :mod:`.tiles`
builds the KPI tiles the big screen and the drill-down share, and :mod:`.bigscreen`, :mod:`.duty`,
:mod:`.case`, :mod:`.drill` serve their pages.
"""
