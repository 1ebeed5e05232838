"""`hawk serve`: an OpenAI-compatible HTTP server over :class:`hawk_core.inference.predictor.Predictor`.

It follows vLLM's conventions so that OpenAI clients work unchanged:

* :mod:`.config` - :class:`ServeConfig`, the server's settings, checked before the model loads
  (an API key is required to bind anything but a loopback address).
* :mod:`.protocol` - a chat-completions request -> (video, history, question, options), the
  OpenAI response, chunk and error shapes.
* :mod:`.media` - a ``video_url`` part -> a file on disk plus its identity for the cache
  (``file://`` only under the allowed folders, ``data:video/...;base64``, ``http(s)`` only
  when enabled).
* :mod:`.engine` - the warm model: one inference at a time in a worker thread, a bounded
  queue, an LRU of prepared videos, token streaming.
* :mod:`.app` - the FastAPI application.
"""
