"""The rules behind the pages at the service level (sessions, CSRF, consent, account), with a
clock the test controls."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import ValidationError

from modelgates import pkce
from modelgates.models.oauth import CreateAuthCodeRequest
from modelgates.models.problems import problems
from modelgates.server.ratelimit import RateLimiter
from modelgates.server.services import account, apps, codes, consent, secrets, sessions
from modelgates.server.services.errors import InvalidInput, NotFound
from modelgates.server.store import Store
from modelgates.server.web.pages import safe_next
from tests.conftest import Account, create_account, new_account
from tests.server.pages import attempt_sign_in, fast_password_hashing

pytestmark = pytest.mark.anyio

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
CHALLENGE = pkce.s256_challenge(pkce.create_verifier())
PASSWORD = "correct horse battery"


@pytest.fixture(scope="module", autouse=True)
def _fast_password_hashing() -> Iterator[None]:
    with fast_password_hashing():
        yield


@pytest.fixture(scope="module")
def owner(database_url: str) -> Account:
    return new_account(database_url)


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = Store.open(database_url, pool_size=2)
    yield store
    await store.close()


def query(**fields: str | None) -> list[tuple[str, str]]:
    params: dict[str, str | None] = {
        "callback_url": "https://app.example/cb",
        "code_challenge": CHALLENGE,
        "code_challenge_method": "S256",
    }
    params.update(fields)
    return [(k, v) for k, v in params.items() if v is not None]


# --- consent.parse ------------------------------------------------------------------------------


def test_a_valid_request_is_read_with_the_api_models_rules() -> None:
    auth = consent.parse(
        query(limit="12.5", key_label="CLI", usage_limit_type="daily", state="s t"), T0
    )
    assert auth.callback_url == "https://app.example/cb" and not auth.headless
    assert auth.request.limit == Decimal("12.5")
    assert auth.request.key_label == "CLI" and auth.request.usage_limit_type == "daily"
    assert auth.state == "s t"


def test_a_challenge_without_method_is_plain_as_in_the_api() -> None:
    plain = "a" * 43
    auth = consent.parse(query(code_challenge=plain, code_challenge_method=None), T0)
    assert auth.request.code_challenge_method == "plain"


def test_without_a_callback_the_request_is_headless_and_needs_a_challenge() -> None:
    auth = consent.parse(query(callback_url=None), T0)
    assert auth.headless and auth.callback_url is None
    assert consent.identity_of(auth) == consent.HEADLESS_APP
    with pytest.raises(consent.InvalidAuthRequest) as refused:
        consent.parse(query(callback_url=None, code_challenge=None, code_challenge_method=None), T0)
    assert refused.value.problems[0][0] == "callback_url"


@pytest.mark.parametrize(
    ("items", "field"),
    [
        (
            [("callback_url", "https://a.example/"), ("callback_url", "https://b.example/")],
            "callback_url",
        ),
        ([("callback_url", "https://a.example/"), ("scope", "all")], "scope"),
        (query(limit="1e3"), "limit"),
        (query(limit="NaN"), "limit"),
        (query(limit="١٢"), "limit"),  # Arabic-Indic digits: not an amount in a URL
        (query(state="x" * 2049), "state"),
        (query(state="new\nline"), "state"),
        (query(expires_at="2030-01-01T12:00:00Z"), "expires_at"),  # now is not the future
    ],
)
def test_invalid_requests_name_the_parameter(items: list[tuple[str, str]], field: str) -> None:
    with pytest.raises(consent.InvalidAuthRequest) as refused:
        consent.parse(items, T0)
    assert field in [name for name, _ in refused.value.problems]


def test_problems_never_echo_values() -> None:
    secret_looking = "https://evil.example/SECRET-VALUE#frag"
    with pytest.raises(consent.InvalidAuthRequest) as refused:
        consent.parse(query(callback_url=secret_looking), T0)
    assert "SECRET-VALUE" not in repr(refused.value.problems)


@pytest.mark.parametrize(
    ("asked", "typed", "chosen"),
    [
        ("5", "5", Decimal(5)),
        ("5", "0.5", Decimal("0.5")),
        ("5", " $2 ", Decimal(2)),
        ("5", "0", Decimal(0)),
        (None, "", None),
        (None, "7", Decimal(7)),
    ],
)
def test_the_user_may_lower_or_set_the_limit(
    asked: str | None, typed: str, chosen: Decimal | None
) -> None:
    auth = consent.parse(query(limit=asked), T0)
    assert consent.chosen_limit(auth, typed) == chosen


@pytest.mark.parametrize(("asked", "typed"), [("5", "5.01"), ("5", ""), ("5", "-1"), (None, "x")])
def test_the_user_may_not_raise_or_remove_the_limit(asked: str | None, typed: str) -> None:
    auth = consent.parse(query(limit=asked), T0)
    with pytest.raises(InvalidInput):
        consent.chosen_limit(auth, typed)


# Amounts at and past each bound of the Money type, in the digits a URL or a person writes.
LIMITS = [
    "0",
    "-0.000001",
    "-1",
    "0.123456",
    "0.1234567",
    "1000000000",
    "1000000000.000001",
    "5000000000000",
    "1" + "0" * 30,
]


@pytest.mark.parametrize("text", LIMITS)
def test_the_consent_page_refuses_the_limits_the_api_refuses_in_the_same_words(text: str) -> None:
    def api() -> None:  # the API reads the same digits as a JSON number
        CreateAuthCodeRequest.model_validate_json(
            f'{{"callback_url": "https://app.example/cb", "limit": {text}}}'
        )

    def asked() -> None:  # the app's request
        consent.parse(query(limit=text), T0)

    def typed() -> None:  # the user's choice, where the app asked for no limit
        consent.chosen_limit(consent.parse(query(), T0), text)

    def refusal(attempt: Callable[[], None]) -> str | None:
        try:
            attempt()
        except ValidationError as error:
            return dict(problems(error))["limit"]
        except consent.InvalidAuthRequest as error:
            return dict(error.problems)["limit"]
        except InvalidInput as error:
            assert error.metadata is not None
            return str(error.metadata["errors"][0]["message"])
        return None

    assert refusal(asked) == refusal(typed) == refusal(api)


def test_redirects_keep_the_callbacks_query_and_add_state() -> None:
    auth = consent.parse(query(callback_url="https://a.example/cb?x=1&y=%2F", state="a&b"), T0)
    assert consent.denial_redirect(auth) == (
        "https://a.example/cb?x=1&y=%2F&error=access_denied&state=a%26b"
    )
    assert consent.with_query("https://a.example/cb", [("code", "c")], None) == (
        "https://a.example/cb?code=c"
    )
    assert consent.denial_redirect(consent.parse(query(callback_url=None), T0)) is None


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        (Decimal(5), "$5"),
        (Decimal("12.5"), "$12.50"),
        (Decimal("0.000001"), "$0.000001"),
        (1234.0, "$1,234"),
    ],
)
def test_amounts_read_well(amount: Decimal | float, shown: str) -> None:
    assert consent.format_usd(amount) == shown


async def test_approve_creates_the_code_through_the_api_service(
    owner: Account, store: Store
) -> None:
    auth = consent.parse(query(callback_url="https://approved.example/cb", state="s"), T0)
    approval = await consent.approve(
        store, user_id=owner.user_id, auth=auth, limit=Decimal(1), now=T0, ttl=timedelta(minutes=10)
    )
    assert approval.redirect_to is not None
    assert approval.redirect_to.startswith(f"https://approved.example/cb?code={approval.code}")
    assert approval.code not in repr(approval)
    row = await store.run(lambda tx: tx.codes.by_hash(secrets.sha256_hex(approval.code)))
    assert row is not None
    app = await store.run(lambda tx: tx.apps.by_id(row.app_id))
    assert row.user_id == owner.user_id and row.limit_micros == 1_000_000
    assert row.callback_url == "https://approved.example/cb"
    assert app is not None and app.origin == "https://approved.example"


async def test_headless_codes_carry_no_callback(owner: Account, store: Store) -> None:
    auth = consent.parse(
        query(callback_url=None, code_challenge=pkce.s256_challenge(pkce.create_verifier())), T0
    )
    approval = await consent.approve(
        store, user_id=owner.user_id, auth=auth, limit=None, now=T0, ttl=timedelta(minutes=10)
    )
    assert approval.redirect_to is None
    row = await store.run(lambda tx: tx.codes.by_hash(secrets.sha256_hex(approval.code)))
    assert row is not None and row.callback_url is None


async def test_loopback_apps_are_never_named_by_a_recorded_title(
    owner: Account, store: Store
) -> None:
    await apps.name_app(store, "http://localhost:5173", "Someone's App", T0)
    await claim(store, owner, "http://localhost:5173/cb", "My Own Name")
    auth = consent.parse(query(callback_url="http://localhost:5173/cb"), T0)
    view = await consent.describe_app(store, auth, owner.user_id)
    assert view == consent.AppView(
        name="localhost:5173", origin="http://localhost:5173", kind="loopback"
    )


async def claim(store: Store, account: Account, callback: str, title: str) -> None:
    """What an API call with ``account``'s key and ``X-ModelGates-Title: title`` records."""
    await codes.create_code(
        store,
        user_id=account.user_id,
        request=CreateAuthCodeRequest(callback_url=callback),
        app=apps.identify(callback_url=callback, title=title, categories=None),
        now=T0,
        ttl=timedelta(minutes=10),
    )


async def test_a_claimed_title_names_the_app_for_the_claimers_eyes_only(
    owner: Account, store: Store, database_url: str
) -> None:
    stranger = await create_account(store)
    callback = f"https://claimed-{secrets.new_code()[:8].lower()}.example/cb"
    await claim(store, stranger, callback, "Evil")
    auth = consent.parse(query(callback_url=callback), T0)
    origin = callback.removesuffix("/cb")
    host = origin.removeprefix("https://")
    assert await consent.describe_app(store, auth, stranger.user_id) == consent.AppView(
        name="Evil", origin=origin, kind="web", named_by="you"
    )
    for viewer in (owner.user_id, None):
        assert await consent.describe_app(store, auth, viewer) == consent.AppView(
            name=host, origin=origin, kind="web", named_by=None
        )
    # The operator's name wins for everyone, marked as the operator's.
    await apps.name_app(store, origin, "Acme Notes", T0)
    for viewer in (stranger.user_id, owner.user_id, None):
        view = await consent.describe_app(store, auth, viewer)
        assert (view.name, view.named_by) == ("Acme Notes", "operator")
    await apps.name_app(store, origin, None, T0)
    view = await consent.describe_app(store, auth, owner.user_id)
    assert (view.name, view.named_by) == (host, None)


@pytest.mark.parametrize(
    "title",
    [
        "ModelGates",
        "Model Gates",
        "\U0001f512 Verified by M0delGates",
        "M\u043edelGates",
        "\u0391pple",
    ],
)
async def test_impersonating_titles_are_refused_from_keys_and_from_the_operator(
    store: Store, title: str
) -> None:
    with pytest.raises(InvalidInput) as from_a_key:
        apps.identify(callback_url="https://a.example/cb", title=title, categories=None)
    assert from_a_key.value.metadata == {
        "field": "X-ModelGates-Title",
        "errors": [
            {"field": "X-ModelGates-Title", "message": from_a_key.value.message.split(": ", 1)[1]}
        ],
    }
    with pytest.raises(InvalidInput):
        await apps.name_app(store, "https://a.example", title, T0)


@pytest.mark.parametrize(
    "title",
    [
        "Acme Notes",
        "Caf\u00e9 Bot",
        "\u041c\u043e\u0439 \u0431\u043e\u0442",
        "\u65e5\u672c\u8a9e\u30a2\u30d7\u30ea",
        "Gates of Models",
    ],
)
def test_honest_titles_in_any_one_script_are_kept(title: str) -> None:
    identity = apps.identify(callback_url="https://a.example/cb", title=title, categories=None)
    assert identity.title == title


# --- sessions and CSRF --------------------------------------------------------------------------


def test_csrf_tokens_are_bound_to_their_secret() -> None:
    secret = sessions.new_browser_secret()
    token = sessions.csrf_token(secret)
    assert sessions.csrf_valid(secret, token)
    assert not sessions.csrf_valid(sessions.new_browser_secret(), token)
    assert not sessions.csrf_valid(secret, token[:-1] + ("0" if token[-1] != "0" else "1"))
    assert not sessions.csrf_valid(secret, None) and not sessions.csrf_valid(None, token)
    assert secret not in token


async def test_a_session_stores_only_its_hash_and_ends(owner: Account, store: Store) -> None:
    session = await sessions.sign_in(
        store,
        RateLimiter(),
        email=owner.email.upper(),
        password=PASSWORD,
        client_address="192.0.2.1",
        now=T0,
    )
    assert session.token not in repr(session)
    assert session.expires_at == T0 + sessions.SESSION_TTL
    user = await sessions.user_of(store, session.token, T0 + timedelta(days=6))
    assert user is not None and user.id == owner.user_id
    assert await sessions.user_of(store, session.token, session.expires_at) is None  # expired
    assert await sessions.user_of(store, secrets.sha256_hex(session.token), T0) is None
    await sessions.sign_out(store, session.token)
    assert await sessions.user_of(store, session.token, T0) is None


async def test_each_sign_in_makes_a_new_session(owner: Account, store: Store) -> None:
    limiter = RateLimiter()
    made = [
        await sessions.sign_in(
            store, limiter, email=owner.email, password=PASSWORD, client_address="a", now=T0
        )
        for _ in range(2)
    ]
    assert made[0].token != made[1].token
    assert all([await sessions.user_of(store, s.token, T0) for s in made])


async def test_wrong_email_and_wrong_password_are_one_refusal(owner: Account, store: Store) -> None:
    limiter = RateLimiter()
    for email, password in ((owner.email, "wrong"), ("nobody@example.com", PASSWORD), ("@", "x")):
        with pytest.raises(sessions.SignInRefused) as refused:
            await sessions.sign_in(
                store, limiter, email=email, password=password, client_address="a", now=T0
            )
        assert refused.value.message == "The email or password is not right."


async def test_sign_in_is_limited_per_address_across_accounts(owner: Account, store: Store) -> None:
    limits = sessions.LoginLimits(per_account="10/15 minutes", per_address="3/15 minutes")
    limiter = RateLimiter()
    for n in range(3):
        with pytest.raises(sessions.SignInRefused):
            await sessions.sign_in(
                store,
                limiter,
                email=f"guess{n}@example.com",
                password="x",
                client_address="198.51.100.7",
                now=T0,
                limits=limits,
            )
    with pytest.raises(sessions.TooManyAttempts) as limited:
        await sessions.sign_in(
            store,
            limiter,
            email=owner.email,
            password=PASSWORD,
            client_address="198.51.100.7",
            now=T0,
            limits=limits,
        )
    assert limited.value.status == 429 and limited.value.retry_after > 0
    # Another address is not affected.
    await sessions.sign_in(
        store,
        limiter,
        email=owner.email,
        password=PASSWORD,
        client_address="198.51.100.8",
        now=T0,
        limits=limits,
    )


async def test_a_successful_sign_in_clears_the_accounts_count(owner: Account, store: Store) -> None:
    limits = sessions.LoginLimits(per_account="2/15 minutes", per_address="100/15 minutes")
    limiter = RateLimiter()

    async def attempt(password: str) -> None:
        await sessions.sign_in(
            store,
            limiter,
            email=owner.email,
            password=password,
            client_address="a",
            now=T0,
            limits=limits,
        )

    with pytest.raises(sessions.SignInRefused):
        await attempt("wrong")
    await attempt(PASSWORD)  # the second attempt, allowed; it clears the count
    with pytest.raises(sessions.SignInRefused):
        await attempt("wrong")
    await attempt(PASSWORD)
    with pytest.raises(sessions.SignInRefused):
        await attempt("wrong")
    with pytest.raises(sessions.SignInRefused):
        await attempt("wrong")
    with pytest.raises(sessions.TooManyAttempts):
        await attempt(PASSWORD)


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("/account", "/account"),
        (
            "/auth?callback_url=https%3A%2F%2Fa.example%2F&state=x",
            "/auth?callback_url=https%3A%2F%2Fa.example%2F&state=x",
        ),
        ("https://evil.example/", "/account"),
        ("//evil.example/", "/account"),
        ("/\\evil.example", "/account"),
        ("/auth?x#frag", "/account"),
        ("/api/v1/key", "/account"),
        ("/account\n", "/account"),
        (None, "/account"),
    ],
)
def test_after_sign_in_only_our_pages_are_destinations(value: str | None, safe: str) -> None:
    assert safe_next(value) == safe


# --- the account ------------------------------------------------------------------------------


async def test_a_user_revokes_only_their_own_keys(store: Store) -> None:
    mine, theirs = await create_account(store), await create_account(store)
    with pytest.raises(NotFound):
        await account.revoke_key(store, mine.user_id, theirs.key_hash, T0)
    await account.revoke_key(store, mine.user_id, mine.key_hash, T0)
    with pytest.raises(NotFound):  # already revoked
        await account.revoke_key(store, mine.user_id, mine.key_hash, T0)
    overview = await account.overview(store, mine.user_id, T0)
    assert overview.keys == [] and overview.apps == []
    theirs_now = await account.overview(store, theirs.user_id, T0)
    assert [view.hash for view in theirs_now.keys] == [theirs.key_hash]


async def test_management_keys_are_the_users_own(owner: Account, store: Store) -> None:
    issued = await account.create_management_key(store, owner.user_id, " Ops ", T0)
    assert issued.row.is_management and issued.row.app_id is None
    assert issued.row.user_id == owner.user_id and issued.row.label == "Ops"
    for bad in ("", "x" * 101, "tab\there"):
        with pytest.raises(InvalidInput):
            await account.create_management_key(store, owner.user_id, bad, T0)


# --- a stranger cannot lock an account out -------------------------------------------------------


def attempts_on(
    store: Store, limits: sessions.LoginLimits, email: str
) -> Callable[..., Awaitable[sessions.Session]]:
    """Sign-in attempts on ``email``'s account through one limiter: ``attempt(password,
    address="192.0.2.1", device=None)``."""
    limiter = RateLimiter()

    async def attempt(
        password: str, address: str = "192.0.2.1", device: str | None = None
    ) -> sessions.Session:
        return await attempt_sign_in(store, limiter, email, password, address, T0, device, limits)

    return attempt


async def test_a_device_that_signed_in_before_gets_in_while_strangers_are_locked_out(
    store: Store,
) -> None:
    victim = await create_account(store)
    limits = sessions.LoginLimits(per_account="3/15 minutes")
    attempt = attempts_on(store, limits, victim.email)

    first = await attempt(PASSWORD, "192.0.2.1")  # the victim's browser, some day before
    assert first.device_cookie is not None and first.device_cookie not in repr(first)
    for n in range(3):  # a stranger, from as many addresses as they like
        with pytest.raises(sessions.SignInRefused):
            await attempt("guess", f"203.0.113.{n}")
    with pytest.raises(sessions.TooManyAttempts):  # strangers are held back, right password or not
        await attempt(PASSWORD, "203.0.113.9")
    # The victim's browser is let in, and keeps its device cookie.
    again = await attempt(PASSWORD, "192.0.2.1", first.device_cookie)
    assert again.user.id == victim.user_id
    # A device cookie is the account's: forged, altered, or another account's, it is no pass.
    other = await create_account(store)
    theirs = await attempts_on(store, limits, other.email)(PASSWORD, "203.0.113.9")
    assert first.device_cookie is not None and theirs.device_cookie is not None
    altered = first.device_cookie[:-1] + ("0" if first.device_cookie[-1] != "0" else "1")
    for forged in (theirs.device_cookie, altered, "x" * 60, ""):
        with pytest.raises(sessions.TooManyAttempts):
            await attempt(PASSWORD, "203.0.113.9", forged)


async def test_guesses_through_one_device_cookie_are_limited_to_that_cookie(
    store: Store,
) -> None:
    victim = await create_account(store)
    limits = sessions.LoginLimits(per_account="3/15 minutes", per_device="2/15 minutes")
    attempt = attempts_on(store, limits, victim.email)

    stolen = (await attempt(PASSWORD)).device_cookie
    for _ in range(2):
        with pytest.raises(sessions.SignInRefused):
            await attempt("guess", device=stolen)
    with pytest.raises(sessions.TooManyAttempts):
        await attempt(PASSWORD, device=stolen)
    # ...and cost the account's other browsers nothing.
    assert (await attempt(PASSWORD)).user.id == victim.user_id


async def test_sign_up_is_silent_about_taken_addresses_and_tells_their_owner(
    owner: Account, store: Store
) -> None:
    limiter = RateLimiter()
    answer = await sessions.sign_up(
        store,
        limiter,
        email=owner.email.upper(),
        password="a stranger's password",
        client_address="203.0.113.5",
        now=T0,
    )
    assert answer is None  # as for a new address: no refusal, no session
    told = (await account.overview(store, owner.user_id, T0 + timedelta(days=1))).sign_up_attempts
    assert told == [T0]
    later = T0 + account.SIGN_UP_ATTEMPTS_SHOWN + timedelta(days=1)
    assert (await account.overview(store, owner.user_id, later)).sign_up_attempts == []
    # The owner's password is unchanged.
    session = await sessions.sign_in(
        store, limiter, email=owner.email, password=PASSWORD, client_address="a", now=T0
    )
    assert session.user.id == owner.user_id
    fresh = f"fresh-{secrets.new_code()[:8].lower()}@example.com"
    assert (
        await sessions.sign_up(
            store, limiter, email=fresh, password="long enough", client_address="b", now=T0
        )
        is None
    )
