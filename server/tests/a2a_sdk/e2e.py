"""End-to-end test of Pinchwork's A2A endpoint with the official A2A Python SDK (a2a-sdk 1.x)
as the client. Run by server/tests/a2a_sdk.rs, which starts the server and a worker agent
(HTTP API) that picks up tasks tagged `e2e-work` and delivers "done: <need>".

Environment: PINCHWORK_URL (the server), PINCHWORK_KEY (the poster's API key).
Prints one line per step; exits non-zero on the first failure.
"""

import asyncio
import hashlib
import hmac
import json
import os
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from google.protobuf import json_format

from a2a.client import (
    A2ACardResolver,
    AuthInterceptor,
    ClientCallContext,
    ClientConfig,
    ClientFactory,
    CredentialService,
)
from a2a.helpers import get_artifact_text, get_message_text, new_text_message
from a2a.types import (
    AuthenticationInfo,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTasksRequest,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    StreamResponse,
    SubscribeToTaskRequest,
    TaskNotCancelableError,
    TaskNotFoundError,
    TaskPushNotificationConfig,
    TaskState,
)

BASE = os.environ["PINCHWORK_URL"]
KEY = os.environ["PINCHWORK_KEY"]
TOKEN = "e2e-push-token-" + uuid.uuid4().hex


def step(text):
    print(f"ok: {text}", flush=True)


def expect(cond, what):
    if not cond:
        raise AssertionError(what)


class Keys(CredentialService):
    """The poster's API key, for the scheme the agent card names."""

    async def get_credentials(self, scheme, context):
        return KEY


class Pushes:
    """A push notification receiver on 127.0.0.1 that records what it is sent."""

    def __init__(self):
        self.received = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.append((dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/a2a-push"

    async def wait_for(self, done, seconds=10):
        for _ in range(seconds * 20):
            if done(self.received):
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"push notifications never arrived: {len(self.received)} so far")

    async def stays_at(self, n):
        await asyncio.sleep(0.5)
        expect(len(self.received) == n, f"{len(self.received)} push notifications, not {n}")


def verify_push(headers, body):
    """A push is ours: the token we chose, our Authorization, and the HMAC signatures."""
    lower = {k.lower(): v for k, v in headers.items()}
    expect(lower.get("x-a2a-notification-token") == TOKEN, f"token header: {lower}")
    expect(lower.get("authorization") == "Bearer receiver-secret", "authorization header")
    digest = hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
    expect(
        hmac.compare_digest(lower["x-pinchwork-signature"], "sha256=" + digest),
        "body signature",
    )
    stamp = lower["x-pinchwork-timestamp"]
    digest = hmac.new(TOKEN.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    expect(
        hmac.compare_digest(lower["x-pinchwork-timestamp-signature"], "sha256=" + digest),
        "timestamp signature",
    )
    # The body is a StreamResponse the SDK reads.
    return json_format.ParseDict(json.loads(body), StreamResponse())


def user_message(text, task_id=None):
    return new_text_message(text, task_id=task_id, role=Role.ROLE_USER)


async def main():
    pushes = Pushes()
    http = httpx.AsyncClient(timeout=httpx.Timeout(60.0))
    card = await A2ACardResolver(http, BASE).get_agent_card()
    expect(card.capabilities.streaming and card.capabilities.push_notifications, "capabilities")
    expect(card.supported_interfaces[0].url == BASE + "/a2a", "interface url")
    step(f"agent card: {card.name} {card.version}, {card.supported_interfaces[0].protocol_binding}")

    auth = [AuthInterceptor(Keys())]
    client = ClientFactory(ClientConfig(streaming=True, httpx_client=http)).create(card, auth)
    # A client that does not stream: SendMessage, answered at once (polling).
    poller = ClientFactory(
        ClientConfig(streaming=False, polling=True, httpx_client=http)
    ).create(card, auth)
    ctx = ClientCallContext()

    # 1. Send, and stream until the result is delivered (the worker picks it up meanwhile).
    push = TaskPushNotificationConfig(
        url=pushes.url,
        token=TOKEN,
        authentication=AuthenticationInfo(scheme="Bearer", credentials="receiver-secret"),
    )
    request = SendMessageRequest(
        message=user_message("Write a limerick about escrow"),
        configuration=SendMessageConfiguration(task_push_notification_config=push),
    )
    request.message.metadata.update({"max_credits": 10, "tags": ["e2e-work"]})
    seen = []
    task_id = None
    async for event in client.send_message(request, context=ctx):
        kind = event.WhichOneof("payload")
        if kind == "task":
            task_id = event.task.id
            seen.append(("task", TaskState.Name(event.task.status.state)))
        elif kind == "status_update":
            seen.append(("status", TaskState.Name(event.status_update.status.state)))
        elif kind == "artifact_update":
            seen.append(("artifact", get_artifact_text(event.artifact_update.artifact)))
    expect(seen[0] == ("task", "TASK_STATE_SUBMITTED"), f"first event: {seen}")
    expect(("status", "TASK_STATE_WORKING") in seen, f"working: {seen}")
    expect(
        seen[-2:]
        == [
            ("artifact", "done: Write a limerick about escrow"),
            ("status", "TASK_STATE_INPUT_REQUIRED"),
        ],
        f"delivery: {seen}",
    )
    step(f"streamed {task_id}: {[s for _, s in seen]}")

    # 2. Subscribe again, and approve meanwhile: the subscription sees the task completed.
    async def subscription():
        states = []
        async for event in client.subscribe(SubscribeToTaskRequest(id=task_id), context=ctx):
            if event.HasField("task"):
                states.append(TaskState.Name(event.task.status.state))
            elif event.HasField("status_update"):
                states.append(TaskState.Name(event.status_update.status.state))
        return states

    subscribed = asyncio.create_task(subscription())
    await asyncio.sleep(0.5)
    approve = SendMessageRequest(
        message=user_message("approve 5", task_id=task_id),
        configuration=SendMessageConfiguration(return_immediately=True),
    )
    async for event in client.send_message(approve, context=ctx):
        expect(event.task.status.state == TaskState.TASK_STATE_COMPLETED, f"approved: {event}")
    states = await asyncio.wait_for(subscribed, 10)
    expect(states == ["TASK_STATE_INPUT_REQUIRED", "TASK_STATE_COMPLETED"], f"subscribed: {states}")
    step(f"subscribed again and approved: {states}")

    # 3. Get and list.
    task = await client.get_task(GetTaskRequest(id=task_id), context=ctx)
    expect(task.status.state == TaskState.TASK_STATE_COMPLETED, "get: completed")
    expect(get_artifact_text(task.artifacts[0]) == "done: Write a limerick about escrow", "get: result")
    expect(get_message_text(task.history[0]) == "Write a limerick about escrow", "get: history")
    step(f"get: {TaskState.Name(task.status.state)}, {len(task.history)} messages of history")
    listed = await client.list_tasks(ListTasksRequest(page_size=10), context=ctx)
    expect(task_id in [t.id for t in listed.tasks], "list: the task")
    done = await client.list_tasks(
        ListTasksRequest(status=TaskState.TASK_STATE_COMPLETED, include_artifacts=True), context=ctx
    )
    expect([t.id for t in done.tasks] == [task_id] and done.total_size == 1, f"list completed: {done}")
    step(f"list: {listed.total_size} task(s), {done.total_size} completed")

    # 4. The pushes: working, delivered (with the result), completed; each verified.
    def pushed_states(received):
        states = []
        for headers, body in received:
            update = verify_push(headers, body)
            if update.HasField("task"):
                states.append(TaskState.Name(update.task.status.state))
            else:
                states.append(TaskState.Name(update.status_update.status.state))
        return states

    # Notifications are sent as soon as each change commits, so two close together may
    # arrive in either order (their status timestamps tell).
    await pushes.wait_for(lambda r: len(r) >= 3)
    states = pushed_states(pushes.received)
    expect(
        sorted(states)
        == ["TASK_STATE_COMPLETED", "TASK_STATE_INPUT_REQUIRED", "TASK_STATE_WORKING"],
        f"pushed: {states}",
    )
    delivered = [verify_push(*r) for r in pushes.received]
    delivered = [d.task for d in delivered if d.HasField("task")][0]
    expect(get_artifact_text(delivered.artifacts[0]).startswith("done: "), "pushed result")
    step(f"{len(pushes.received)} push notifications received, token and signatures verified")

    # 5. Cancel a task nobody works on; it cannot be cancelled twice.
    hold = SendMessageRequest(
        message=user_message("Nobody will take this"),
        configuration=SendMessageConfiguration(return_immediately=True),
    )
    hold.message.metadata.update({"max_credits": 5})
    async for event in poller.send_message(hold, context=ctx):
        other = event.task.id
        expect(event.task.status.state == TaskState.TASK_STATE_SUBMITTED, "held: submitted")
    canceled = await client.cancel_task(CancelTaskRequest(id=other), context=ctx)
    expect(canceled.status.state == TaskState.TASK_STATE_CANCELED, "canceled")
    try:
        await client.cancel_task(CancelTaskRequest(id=other), context=ctx)
        raise AssertionError("a canceled task was canceled again")
    except TaskNotCancelableError:
        pass
    try:
        await client.get_task(GetTaskRequest(id="tk-nope"), context=ctx)
        raise AssertionError("an unknown task was found")
    except TaskNotFoundError:
        pass
    step(f"canceled {other}; cancelling again and unknown tasks give the SDK's errors")

    # 6. Push configs through the SDK.
    made = await client.create_task_push_notification_config(
        TaskPushNotificationConfig(task_id=other, id="second", url="https://hooks.example.com/a2a"),
        context=ctx,
    )
    expect(made.id == "second" and made.task_id == other, f"created: {made}")
    got = await client.get_task_push_notification_config(
        GetTaskPushNotificationConfigRequest(task_id=other, id="second"), context=ctx
    )
    expect(got.url == "https://hooks.example.com/a2a", "got config")
    configs = await client.list_task_push_notification_configs(
        ListTaskPushNotificationConfigsRequest(task_id=other), context=ctx
    )
    expect([c.id for c in configs.configs] == ["second"], f"listed configs: {configs}")
    await client.delete_task_push_notification_config(
        DeleteTaskPushNotificationConfigRequest(task_id=other, id="second"), context=ctx
    )
    configs = await client.list_task_push_notification_configs(
        ListTaskPushNotificationConfigsRequest(task_id=other), context=ctx
    )
    expect(len(configs.configs) == 0, "deleted config")
    step("push notification configs created, read, listed and deleted")

    await pushes.stays_at(3)
    await client.close()
    await poller.close()
    await http.aclose()
    print("A2A SDK END-TO-END: PASSED", flush=True)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:  # noqa: BLE001
        print(f"FAILED: {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
