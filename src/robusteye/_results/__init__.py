"""The parts of `robusteye.results` (curves, bounds, corruption scores, rows, trials, the store);
import them from `robusteye.results`."""
