"""What the asyncio API and the blocking API share: status codes and errors, grpcio's own
objects, credentials and channel/server security, metadata, options, compression,
connectivity states, the engine's event kinds and fork generations, message reading, write
windows, a server's settings, listeners and handler table, and its checks of what handlers
hand back.

``turbogrpc.aio`` and the blocking API are facades over these modules; users never import
them. What waits is each API's own: the asyncio side (one completion queue per loop, tasks,
futures) stays in aio/. Two small exceptions: call credentials have an awaitable runner next
to the blocking one (_call_credentials.py), and plugin runs and the engine trace relay
(_engine_log.py) start threads of their own.
"""
