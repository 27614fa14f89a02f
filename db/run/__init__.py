"""A whole run, end to end, above the layers it composes: migrate's apply (the pending one-offs of
db/versions, then the master file's plan from db/plan, executed by db/deploy) and the plan of a change
(both sides built, then planned). db/deploy and db/versions never import this package."""
