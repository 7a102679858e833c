"""From camera frames to drowsiness signals: find the eyes, classify them, report PERCLOS,
blinks and long closures.

The package: `temporal` (pure functions: smoothing, closure events, PERCLOS over sliding
windows, event matching), `eyes` (the Haar face cascade, eye boxes from the face's geometry
refined by the eye cascade, crops through the image folders' preprocessing), `video` (frame
sources: a video file, a folder of frames, a camera), `pipeline` (classification in batches,
per-eye and per-frame states, the per-driver baseline, the summary), `run` (`monitor`: the
output folder), `timeline` (timeline.png) and `demo` (the demo clip and its ground truth).
OpenCV comes with the `video` extra and is imported only through `_cv`.
"""
