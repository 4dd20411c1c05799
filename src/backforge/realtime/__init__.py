"""Realtime: committed writes pushed to subscribers over Server-Sent Events, each change read
back as its subscriber before it is sent (`stream.py`), across processes through Redis
(`brokers.py`), the subscriptions of one process and their bounded queues (`hub.py`)."""
