"""The gateway's ceiling: a request holds its worst case before it is forwarded, and settles to
its actual cost after.

Both are one transaction each, and each touches the key's row with one conditional statement
(``tx.usage.hold``, ``tx.usage.settle``), as spending a code does: however many requests race,
on however many processes sharing the database, the usage in a key's window plus its open holds
never exceeds its limit. A settlement happens once per completion (``tx.generations.settle``
sets ``settled_at`` only where it is still NULL), whoever gets there first: the process that
served it, or the sweeper that settles the holds of a process that died.

docs/gateway.md states the rules; this module is them.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from modelgates.server.services import keys, money, windows
from modelgates.server.services.errors import NotFound, PaymentRequired
from modelgates.server.store import GenerationRow, KeyRow, Store, Transaction

__all__ = [
    "Hold",
    "Price",
    "abandon_stale",
    "estimate_tokens",
    "generation_of",
    "hold",
    "settle",
]

Outcome = Literal["completed", "cancelled", "provider_error"]


@dataclass(frozen=True)
class Price:
    """A model's price and output bound, as the ceiling needs them."""

    #: USD per million tokens, which is micro-dollars per token.
    input_per_million: Decimal
    output_per_million: Decimal
    #: The most output tokens a request may hold for.
    output_cap: int
    #: The most prompt tokens the model takes, if known.
    context_length: int | None
    _scale: int = field(init=False, repr=False, compare=False)
    _input: int = field(init=False, repr=False, compare=False)
    _output: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Each price as a whole number of 10^-places micro-dollars: a cost is then integer
        # arithmetic, exact, and cheaper than Decimal's on every request.
        places = max(_places(self.input_per_million), _places(self.output_per_million))
        object.__setattr__(self, "_scale", 10**places)
        object.__setattr__(self, "_input", int(self.input_per_million.scaleb(places)))
        object.__setattr__(self, "_output", int(self.output_per_million.scaleb(places)))

    def cost(self, tokens_prompt: int, tokens_completion: int) -> int:
        """Micro-dollars, rounded up to a whole one."""
        scaled = tokens_prompt * self._input + tokens_completion * self._output
        return -(-scaled // self._scale)


def _places(price: Decimal) -> int:
    """The decimal places ``price`` has (0 for a whole number)."""
    exponent = price.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def estimate_tokens(text_bytes: int) -> int:
    """Tokens in a text of ``text_bytes`` UTF-8 bytes, for a provider that reports no usage:
    one per four bytes, the usual rule of thumb for English with OpenAI's tokenizers, and never
    zero for text that was sent or relayed."""
    return max(1, math.ceil(text_bytes / 4))


def prompt_bound(body_bytes: int, price: Price) -> int:
    """The most tokens the prompt can be: a token is at least one byte of the body that carries
    it (the JSON around the text more than covers a chat template's few tokens a message)."""
    if price.context_length is not None:
        return min(body_bytes, price.context_length)
    return body_bytes


@dataclass(frozen=True)
class Hold:
    generation_id: str
    key_id: int
    #: Micro-dollars held, and the part of them for the prompt.
    amount: int
    prompt_amount: int
    #: Whether the key has a limit (then a charge is never more than the hold).
    limited: bool
    #: The output cap to send upstream, when the gateway must set one.
    max_tokens: int | None
    #: The request's own output cap was lowered to the model's maximum.
    capped: bool
    prompt_bytes: int


def new_generation_id() -> str:
    return "gen-" + secrets.token_hex(16)


def _output_tokens(
    key: KeyRow, price: Price, prompt_cost: int, requested: int | None, now: datetime
) -> tuple[int | None, bool]:
    """The output tokens to hold for, and whether ``requested`` was lowered; PaymentRequired
    when not even one fits."""
    capped = requested is not None and requested > price.output_cap
    wanted = None if requested is None else min(requested, price.output_cap)
    remaining = windows.usage_of(key, now).remaining
    if remaining is None:  # no limit: metered, never refused
        return wanted, capped
    if wanted is None:
        # The most that what remains can buy, within the model's bound.
        left = remaining - prompt_cost
        if price.output_per_million == 0:
            affordable = price.output_cap if left >= 0 else 0
        else:
            affordable = max(0, math.floor(Decimal(left) / price.output_per_million))
        wanted = min(price.output_cap, affordable)
    if wanted < 1 or prompt_cost + price.cost(0, wanted) > remaining:
        raise _limit_exceeded(remaining)
    return wanted, capped


def _limit_exceeded(remaining: int) -> PaymentRequired:
    return PaymentRequired(
        "The key's remaining limit cannot pay for this request.",
        {"reason": "limit_exceeded", "limit_remaining": float(money.to_usd(remaining))},
    )


async def hold(
    store: Store,
    credential: keys.Credential,
    *,
    model: str,
    price: Price,
    body_bytes: int,
    requested_max_tokens: int | None,
    streamed: bool,
    referer_origin: str | None,
    now: datetime,
) -> Hold:
    """Hold the request's worst case on the key of ``credential``, looked up in the hold's own
    transaction: its prompt at the input price plus its output cap at the output price.
    PaymentRequired when the limit cannot take it, Unauthenticated when the key is not live."""
    periods = windows.periods_at(now)
    generation_id = new_generation_id()
    prompt_tokens = prompt_bound(body_bytes, price)
    prompt_cost = price.cost(prompt_tokens, 0)

    def take(tx: Transaction) -> Hold:
        current = keys.live_key(tx, credential, now)
        output, capped = _output_tokens(current, price, prompt_cost, requested_max_tokens, now)
        amount = prompt_cost + price.cost(0, output or 0)
        # The key's row is changed last: on PostgreSQL its lock is then held only from the
        # hold to the commit, and every request of the key waits for that lock. A hold that
        # fails rolls the insert back with it.
        tx.generations.insert(
            generation_id=generation_id,
            key_id=current.id,
            user_id=current.user_id,
            app_id=current.app_id,
            referer_origin=referer_origin,
            model=model,
            streamed=streamed,
            held_micros=amount,
            held_prompt_micros=prompt_cost,
            created_at=now,
        )
        if not tx.usage.hold(current.id, amount, now, periods.day, periods.week, periods.month):
            # Another request took what was left between the read and the hold.
            raise _limit_exceeded(windows.usage_of(current, now).remaining or 0)
        limited = current.limit_micros is not None
        # The provider must not produce more than was held for; without a limit, the request's
        # own cap (or the provider's default) stands unless it was over the model's.
        send_cap = output if capped or (limited and requested_max_tokens is None) else None
        return Hold(
            generation_id=generation_id,
            key_id=current.id,
            amount=amount,
            prompt_amount=prompt_cost,
            limited=limited,
            max_tokens=send_cap,
            capped=capped,
            prompt_bytes=body_bytes,
        )

    return await store.run(take)


@dataclass(frozen=True)
class Settlement:
    #: What the tokens cost at the model's prices, and what the key was charged.
    cost: int
    charged: int
    tokens_prompt: int
    tokens_completion: int
    #: False when the completion had been settled already (nothing changed).
    applied: bool


async def settle(
    store: Store,
    held: Hold,
    price: Price,
    *,
    outcome: Outcome,
    tokens_prompt: int,
    tokens_completion: int,
    usage_estimated: bool,
    provider_status: int | None,
    now: datetime,
) -> Settlement:
    """Turn the hold into the completion's cost. A key with a limit is never charged more than
    was held (the ceiling); one without is charged the cost."""
    cost = price.cost(tokens_prompt, tokens_completion)
    charged = min(cost, held.amount) if held.limited else cost
    periods = windows.periods_at(now)

    def apply(tx: Transaction) -> Settlement:
        settled = tx.generations.settle(
            held.generation_id,
            now=now,
            status=outcome,
            tokens_prompt=tokens_prompt,
            tokens_completion=tokens_completion,
            cost_micros=cost,
            charged_micros=charged,
            usage_estimated=usage_estimated,
            provider_status=provider_status,
        )
        if not settled:
            return Settlement(cost, 0, tokens_prompt, tokens_completion, applied=False)
        tx.usage.settle(
            held.key_id,
            held=held.amount,
            charge=charged,
            day=periods.day,
            week=periods.week,
            month=periods.month,
        )
        return Settlement(cost, charged, tokens_prompt, tokens_completion, applied=True)

    return await store.run(apply)


async def abandon_stale(
    store: Store, now: datetime, older_than: timedelta, batch: int = 100
) -> int:
    """Settle the holds of requests that no process will finish (their process died): each is
    charged the prompt part of its hold, since the provider most likely received the prompt and
    nothing says what it answered. How many were settled."""
    periods = windows.periods_at(now)

    def sweep(tx: Transaction) -> int:
        settled = 0
        for row in tx.generations.unsettled_before(now - older_than, batch):
            done = tx.generations.settle(
                row.id,
                now=now,
                status="abandoned",
                tokens_prompt=0,
                tokens_completion=0,
                cost_micros=row.held_prompt_micros,
                charged_micros=row.held_prompt_micros,
                usage_estimated=True,
                provider_status=None,
            )
            if done:
                tx.usage.settle(
                    row.key_id,
                    held=row.held_micros,
                    charge=row.held_prompt_micros,
                    day=periods.day,
                    week=periods.week,
                    month=periods.month,
                )
                settled += 1
        return settled

    return await store.run(sweep)


async def generation_of(store: Store, key: KeyRow, generation_id: str) -> GenerationRow:
    """The key's own record of one completion; NotFound for another key's."""
    row = await store.run(lambda tx: tx.generations.by_id(generation_id))
    if row is None or row.key_id != key.id:
        raise NotFound("No generation with that id for this key.")
    return row
