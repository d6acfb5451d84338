"""Campaign rehearsal (issue 19 part 2): a whole campaign against simulated callees first.

models      the `Rehearsal` row (registered through `campaigns.models`)
population  synthetic callees from the simulator's personas, in a given or estimated mix
talk        one conversation: a persona's script against the scripted agent, in virtual time
runner      the dialler's rules on a simulated clock, with the in-process `RehearsalCarrier`
report      the predicted outcome mix, connect rate, days, latency and misbehaviours
services    create (validate, queue) and run (the Celery task `campaigns.tasks.run_rehearsal`)
api, admin  the entry points
"""
