"""Media through the same entry: images and audio (one upstream call each, bodies streamed) and
asynchronous video tasks (a task record per job, polled by a supervised background task, settled
or released at its end, signed callbacks, downloads through the gateway).

``prices`` (what a unit costs), ``money`` (hold at submit, settle or release at the end, each
in one transaction with the state change), ``repo`` (the task table), ``sync`` (images, audio),
``tasks`` (the task room: ``task_submit``, ``task_reads``, ``task_poll``, ``task_end``,
``task_delivery``, ``task_links``, ``task_channel``), ``takeover`` (tasks taken over from New API),
``callbacks`` (signatures), ``ssrf`` (which URLs the gateway may reach for a caller), ``views``
(tasks as each surface shows them). The request path (``services/gateway``) never imports this
room; this room uses the gateway's accounts, catalog, gate and usage writer.
"""
