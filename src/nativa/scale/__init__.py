"""Scale-out: batch runs on local processes or Ray actors, and the server as a Ray Serve deployment.

    from nativa.scale import ResultLog, WorkerSpec, make_backend, read_tasks, run_batch
    backend = make_backend(WorkerSpec(model="small"), use_ray=True, ray_address=None, workers=2)
    report = run_batch(read_tasks(Path("tasks.jsonl")), ResultLog(Path("results.jsonl")), backend, workers=2)

Ray is the optional extra `nativa[ray]`: this package imports without it, and only the Ray backend and the
Serve deployment need it (`RayMissingError` names the install command when it is absent).
"""

from nativa.scale.batch import BatchReport, make_backend, run_batch
from nativa.scale.dispatch import Backend, DispatchStats, Job, dispatch
from nativa.scale.local import LocalBackend
from nativa.scale.tasks import BadLine, BatchTask, ResultLog, TaskFile, TaskOutcome, parse_tasks, read_tasks
from nativa.scale.worker import TaskRunner, WorkerInfo, WorkerSpec

__all__ = [
    "Backend", "BadLine", "BatchReport", "BatchTask", "DispatchStats", "Job", "LocalBackend", "ResultLog",
    "TaskFile", "TaskOutcome", "TaskRunner", "WorkerInfo", "WorkerSpec", "dispatch", "make_backend",
    "parse_tasks", "read_tasks", "run_batch",
]
