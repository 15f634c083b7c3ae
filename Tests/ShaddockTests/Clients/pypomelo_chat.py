# Drives two unmodified pypomelo 1.0.1 clients (raw TCP, Tornado 5) through
# the chat example: both log into one room, alice chats to everyone, then
# asks to be kicked, and bob hears that she left. Alice connects to the first
# port, bob to the second (the same one if not given: two connectors of a
# cluster, or one server). Prints what each client saw as JSON; exits
# non-zero if the run did not reach bob's onLeave.
import json
import sys

import tornado.ioloop
from pypomelo.handler import Handler
from pypomelo.tornadoclient import TornadoClient

PORT = int(sys.argv[1])
BOB_PORT = int(sys.argv[2]) if len(sys.argv) > 2 else PORT
KICK = 5  # the Pomelo package type of a kick
loop = tornado.ioloop.IOLoop.current()
seen = {"alice": {"responses": {}, "pushes": []}, "bob": {"responses": {}, "pushes": []}}
players = {}


class Player(Handler):
    def __init__(self, name, next_step):
        self.name = name
        self.next_step = next_step

    def on_connected(self, client, user_data):
        client.send_request("connector.entryHandler.login", {"uid": self.name, "rid": "lobby"})

    def on_recv_data(self, client, proto_type, data):
        if proto_type == KICK:
            seen[self.name]["kick"] = json.loads(data.decode("utf8"))
        return data

    def on_heartbeat(self, client):
        pass

    def on_push(self, client, route, push_data):
        seen[self.name]["pushes"].append([route, push_data])
        if self.name == "bob" and route == "onChat":
            # Every push has landed (alice's came before her response):
            # now alice asks for the kick.
            players["alice"].send_request("connector.entryHandler.kickme", {"reason": "see you"})
        if self.name == "bob" and route == "onLeave":
            loop.add_callback(loop.stop)

    def on_response(self, client, route, request, response):
        seen[self.name]["responses"][route] = response
        loop.add_callback(self.next_step, route)

    def on_disconnect(self, client):
        pass


def connect(name, next_step, port):
    client = TornadoClient(Player(name, next_step))
    players[name] = client
    client.connect("127.0.0.1", port)


def alice_step(route):
    if route == "connector.entryHandler.login":
        connect("bob", bob_step, BOB_PORT)


def bob_step(route):
    if route == "connector.entryHandler.login":
        players["alice"].send_request("chat.chatHandler.send", {"content": "hello", "target": "*"})


connect("alice", alice_step, PORT)
loop.call_later(30, loop.stop)
loop.start()
print(json.dumps(seen))
left = any(route == "onLeave" for route, _ in seen["bob"]["pushes"])
sys.exit(0 if "kick" in seen["alice"] and left else 1)
