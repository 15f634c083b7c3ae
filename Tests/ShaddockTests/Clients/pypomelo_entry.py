# Drives an unmodified pypomelo 1.0.1 client (raw TCP, Tornado 5) against a
# Shaddock server: handshake, ack, one request to the example route.
# Prints the response as JSON on success; exits non-zero otherwise.
import json
import sys

import tornado.ioloop
from pypomelo.handler import Handler
from pypomelo.tornadoclient import TornadoClient

loop = tornado.ioloop.IOLoop.current()
result = {}


class EntryHandler(Handler):
    def on_connected(self, client, user_data):
        client.send_request("connector.entryHandler.entry", {})

    def on_heartbeat(self, client):
        pass

    def on_push(self, client, route, push_data):
        pass

    def on_response(self, client, route, request, response):
        result["route"] = route
        result["response"] = response
        # Stop first: pypomelo asserts its stream is open after a callback.
        loop.add_callback(loop.stop)

    def on_disconnect(self, client):
        loop.add_callback(loop.stop)


client = TornadoClient(EntryHandler())
client.connect("127.0.0.1", int(sys.argv[1]))
loop.call_later(10, loop.stop)
loop.start()
print(json.dumps(result))
sys.exit(0 if "response" in result else 1)
