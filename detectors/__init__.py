"""Video detectors: camera frames → detections → tracks → zone rules → captures with evidence.

Modelled on Frigate (camera → detector → tracked object → zone → event with snapshot). Modules, each
with one job: ``sources`` (frames), ``coco`` / ``coco_torch`` / ``classical`` (boxes), ``tracking`` (tracks),
``zones`` (where a box stands), ``rules`` (which dwell is a violation), ``evidence`` (JPEGs on disk),
``pipeline`` (the loop that ties them together) and ``cli`` / ``demo`` (entry points).
"""
