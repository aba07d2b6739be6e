"""Background work: the job queue (pgqueuer), its workers, and the scheduled sweeps."""
