"""The population simulation: wiring, runtime and orchestration, apart.

* wiring: :mod:`~alignuser.simulation.build` (data, split, personas, encoder, history
  memories, memory, policy for one scenario);
* runtime: :mod:`~alignuser.simulation.model` (the Mesa ``PopulationModel``: one step as
  named phases), :mod:`~alignuser.simulation.agent`, :mod:`~alignuser.simulation.states`
  (page states of the agents), :mod:`~alignuser.simulation.faults` (retries, fallback,
  breaker), :mod:`~alignuser.simulation.timing`, :mod:`~alignuser.simulation.social`;
* shards and engines: :mod:`~alignuser.simulation.shards` (one shard of agents),
  :mod:`~alignuser.simulation.engines` (local processes or Ray, one registry),
  :mod:`~alignuser.simulation.entries` (merging shards, run status);
* orchestration: :mod:`~alignuser.simulation.runner` (run, resume, the run folder), which
  hands the finished run to :func:`alignuser.evaluation.run_metrics.write_metrics`;
* run folder files: :mod:`~alignuser.simulation.outputs`,
  :mod:`~alignuser.simulation.checkpoint`, :mod:`~alignuser.simulation.integrity`.
"""
