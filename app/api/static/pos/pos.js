// The POS page: a device signs in, shows its store's bind code, scans a consumer's
// member code, opens a counter order for an amount, and watches today's payments.
// Vanilla JS against POST /graphql; every document is a constant here (one place to
// register them as trusted documents).
"use strict";

const TOKEN_KEY = "pos.accessToken";
const POLL_MS = 2000;
// with live events on, polling only backs them up (a missed event is caught this late)
const BACKUP_POLL_MS = 30000;
const RECONNECT_MS = 10000;
const WS_PROTOCOL = "graphql-transport-ws";
// the API's token errors: the device signs in again (it keeps no secret to refresh with)
const SIGN_IN_AGAIN = new Set(["TOKEN_EXPIRED", "TOKEN_INVALID", "UNAUTHENTICATED"]);
const STATUS_TEXT = {
  UNCONFIRMED: "待顾客确认",
  CREATED: "待支付",
  PAYING: "支付中",
  PAID: "已支付",
  PARTIALLY_REFUNDED: "部分退款",
  REFUNDED: "已退款",
  CLOSED: "已关闭",
};
// an order in these states changes no more at the counter: its polling stops
const SETTLED = new Set(["PAID", "PARTIALLY_REFUNDED", "REFUNDED", "CLOSED"]);

const DOCS = {
  login: `mutation PosLogin($serial: String!, $secret: String!) {
  posDeviceLogin(serial: $serial, secret: $secret) {
    __typename
    ... on AuthPayload { accessToken expiresIn }
    ... on AuthError { code field message retryAfter }
  }
}`,
  device: `query PosDevice { posDevice { serial merchantId merchantName } }`,
  bindQr: `mutation PosBindQr($merchantId: ID!) {
  merchantBindQr(merchantId: $merchantId) {
    __typename
    ... on BindQr { payload expiresAt }
    ... on MerchantError { code field message }
  }
}`,
  scan: `mutation PosScan($code: String!) {
  scanMemberCode(code: $code) {
    __typename
    ... on MemberCodeScanned { scanId expiresAt boundHere newlyBound consumer { name phoneTail } }
    ... on CounterError { code field message retryAfter }
  }
}`,
  open: `mutation PosOpen($input: CreateCounterOrderInput!) {
  createCounterOrder(input: $input) {
    __typename
    ... on CounterOrderOpened {
      order { id status amountFen cashFen createdAt paidAt consumer { name phoneTail } }
    }
    ... on CounterError { code field message retryAfter }
  }
}`,
  order: `query PosOrder($id: ID!) {
  counterOrder(id: $id) { id status amountFen cashFen createdAt paidAt consumer { name phoneTail } }
}`,
  events: `subscription PosEvents($merchantId: ID!) {
  orderEvents(merchantId: $merchantId) { kind orderId status }
}`,
  today: `query PosToday {
  posTodayPayments(first: 50) {
    totalCount
    edges { node { id status amountFen cashFen createdAt paidAt consumer { name phoneTail } } }
  }
}`,
};

const $ = (id) => document.getElementById(id);

const state = {
  merchantId: null,
  scan: null, // the last scan: {scanId, consumer}
  pendingKey: null, // the idempotency key of the order being opened (kept across retries)
  opened: new Map(), // order id -> order, the orders this page opened
  timer: null,
  refreshing: false,
  lastRefresh: 0,
  socket: null,
  live: false, // the socket's subscription is acknowledged and running
  reconnect: null,
};

class SignInAgain extends Error {}

// ---- the API ----------------------------------------------------------------

async function gql(query, variables, { anonymous = false } = {}) {
  // the API's messages in the page's language, whatever the browser's is
  const headers = {
    "content-type": "application/json",
    accept: "application/json",
    "accept-language": document.documentElement.lang,
  };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token && !anonymous) headers.authorization = "Bearer " + token;
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers,
      body: JSON.stringify({ query, variables }),
    });
  } catch (e) {
    throw new Error("网络不可用，请检查连接后重试");
  }
  let body;
  try {
    body = await response.json();
  } catch (e) {
    throw new Error(`服务暂时不可用（HTTP ${response.status}），请稍后重试`);
  }
  const errors = body.errors || [];
  for (const err of errors) {
    const code = err.extensions && err.extensions.code;
    if (SIGN_IN_AGAIN.has(code)) throw new SignInAgain(err.message);
  }
  if (errors.length && !body.data) throw new Error(errors[0].message);
  return body.data;
}

// ---- money: yuan typed at the counter, fen in the API -------------------------

// Digits, and at most two decimals: "88", "88.5", "88.50". No floats anywhere.
function yuanToFen(text) {
  const t = text.trim();
  const m = /^(\d{1,9})(?:\.(\d{1,2}))?$/.exec(t);
  if (!m) throw new Error("金额格式不正确：只能输入数字，最多两位小数");
  const fen = Number(m[1]) * 100 + Number((m[2] || "").padEnd(2, "0"));
  if (fen <= 0) throw new Error("金额必须大于 0");
  return fen;
}

function fenToYuan(fen) {
  return `¥${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, "0")}`;
}

function clock(iso) {
  return iso ? new Date(iso).toLocaleTimeString("zh-CN", { hour12: false }) : "";
}

function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "pos-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// ---- what the page shows -------------------------------------------------------

function showError(message) {
  const el = $("error");
  el.textContent = message;
  el.hidden = !message;
}

function orderRow(order) {
  const tr = document.createElement("tr");
  tr.dataset.orderId = order.id;
  tr.dataset.status = order.status;
  const who = order.consumer.name + (order.consumer.phoneTail ? ` (${order.consumer.phoneTail})` : "");
  for (const [cls, text] of [
    ["time", clock(order.paidAt || order.createdAt)],
    ["consumer", who],
    ["amount", fenToYuan(order.amountFen)],
    ["status", STATUS_TEXT[order.status] || order.status],
  ]) {
    const td = document.createElement("td");
    td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
  }
  return tr;
}

function renderOpened() {
  const rows = [...state.opened.values()].reverse().map(orderRow);
  $("opened").replaceChildren(...rows);
}

function renderToday(conn) {
  $("today").replaceChildren(...conn.edges.map((e) => orderRow(e.node)));
  $("today-total").textContent = `共 ${conn.totalCount} 笔`;
}

function showView(signedIn) {
  $("login-view").hidden = signedIn;
  $("counter-view").hidden = !signedIn;
  $("logout").hidden = !signedIn;
}

// ---- flows ---------------------------------------------------------------------

async function run(action) {
  try {
    await action();
  } catch (e) {
    if (e instanceof SignInAgain) signOut("登录已失效，请重新登录");
    else showError(e.message);
  }
}

function signOut(message) {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(state.timer);
  state.timer = null;
  closeLive();
  state.merchantId = null;
  state.scan = null;
  state.opened.clear();
  $("store").textContent = "";
  showView(false);
  showError(message || "");
}

async function signIn(event) {
  event.preventDefault();
  showError("");
  const data = await gql(DOCS.login, { serial: $("serial").value.trim(), secret: $("secret").value }, {
    anonymous: true,
  });
  const result = data.posDeviceLogin;
  if (result.__typename === "AuthError") {
    showError(result.message);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, result.accessToken);
  $("secret").value = "";
  await start();
}

async function start() {
  const { posDevice } = await gql(DOCS.device);
  if (!posDevice) throw new SignInAgain("no device");
  state.merchantId = posDevice.merchantId;
  $("store").textContent = `${posDevice.merchantName} · ${posDevice.serial}`;
  showView(true);
  await showBindCode();
  await refresh();
  state.timer = setInterval(() => {
    // (a slow answer is not asked for again while it is awaited)
    const every = state.live ? BACKUP_POLL_MS : POLL_MS;
    if (!state.refreshing && Date.now() - state.lastRefresh >= every) run(refresh);
  }, POLL_MS);
  showLive();
  connectLive();
  $("member-code").focus();
}

async function showBindCode() {
  const result = (await gql(DOCS.bindQr, { merchantId: state.merchantId })).merchantBindQr;
  if (result.__typename !== "BindQr") {
    showError(result.message);
    return;
  }
  $("bind-code").textContent = result.payload;
  $("bind-expires").textContent = new Date(result.expiresAt).toLocaleString("zh-CN", { hour12: false });
  $("bind-expires").dateTime = result.expiresAt;
}

async function scan(event) {
  event.preventDefault();
  showError("");
  const code = $("member-code").value.trim();
  if (!code) return;
  const result = (await gql(DOCS.scan, { code })).scanMemberCode;
  $("member-code").value = "";
  if (result.__typename === "CounterError") {
    showError(result.message);
    return;
  }
  state.scan = result;
  state.pendingKey = null;
  const c = result.consumer;
  const bound = result.newlyBound ? "，已绑定本店" : result.boundHere ? "，本店会员" : "";
  $("member").textContent = `顾客：${c.name}${c.phoneTail ? "（尾号 " + c.phoneTail + "）" : ""}${bound}`;
  $("member").hidden = false;
  $("open-order").disabled = false;
  $("amount").focus();
}

async function openOrder(event) {
  event.preventDefault();
  showError("");
  if (!state.scan) {
    showError("请先扫描顾客会员码");
    return;
  }
  const amountFen = yuanToFen($("amount").value);
  // one key per order: a retry after a lost answer opens no second order
  state.pendingKey = state.pendingKey || newKey();
  const input = { scanId: state.scan.scanId, amountFen, idempotencyKey: state.pendingKey };
  const result = (await gql(DOCS.open, { input })).createCounterOrder;
  if (result.__typename === "CounterError") {
    showError(result.message);
    return;
  }
  state.pendingKey = null;
  state.opened.set(result.order.id, result.order);
  $("amount").value = "";
  renderOpened();
}

async function refresh() {
  state.refreshing = true;
  state.lastRefresh = Date.now();
  try {
    await refreshNow();
  } finally {
    state.refreshing = false;
  }
}

async function refreshNow() {
  const pending = [...state.opened.values()].filter((o) => !SETTLED.has(o.status));
  const [today, ...orders] = await Promise.all([
    gql(DOCS.today),
    ...pending.map((o) => gql(DOCS.order, { id: o.id })),
  ]);
  for (const data of orders) {
    if (data.counterOrder) state.opened.set(data.counterOrder.id, data.counterOrder);
  }
  renderOpened();
  renderToday(today.posTodayPayments);
}

// ---- live events: graphql-transport-ws over the browser's WebSocket --------------
// Each event re-reads the lists (one source of truth: the queries); without a socket
// (refused, closed, not served) the page polls, and tries the socket again later.

function showLive() {
  $("live").textContent = state.live ? "实时推送已连接" : `每 ${POLL_MS / 1000} 秒刷新`;
}

function closeLive() {
  clearTimeout(state.reconnect);
  state.reconnect = null;
  const socket = state.socket;
  state.socket = null;
  state.live = false;
  if (socket) socket.close(1000);
}

function connectLive() {
  if (!("WebSocket" in window) || !sessionStorage.getItem(TOKEN_KEY)) return;
  const url = location.origin.replace(/^http/, "ws") + "/graphql";
  let socket;
  try {
    socket = new WebSocket(url, WS_PROTOCOL);
  } catch (e) {
    return;
  }
  state.socket = socket;
  const send = (message) => socket.send(JSON.stringify(message));
  socket.onopen = () => {
    send({ type: "connection_init", payload: { Authorization: "Bearer " + sessionStorage.getItem(TOKEN_KEY) } });
  };
  socket.onmessage = (event) => {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch (e) {
      return;
    }
    if (message.type === "connection_ack") {
      send({ id: "events", type: "subscribe", payload: { query: DOCS.events, variables: { merchantId: state.merchantId } } });
      state.live = true;
      showLive();
      run(refresh); // what happened before the subscription began
    } else if (message.type === "ping") {
      send({ type: "pong" });
    } else if (message.type === "next") {
      if (message.payload && message.payload.errors && !message.payload.data) socket.close(1000);
      else run(refresh);
    } else if (message.type === "error" || message.type === "complete") {
      socket.close(1000);
    }
  };
  socket.onclose = (event) => {
    if (state.socket !== socket) return; // closed on purpose
    state.socket = null;
    state.live = false;
    showLive();
    const code = (event.reason || "").replace(/^Forbidden: /, "");
    if (event.code === 4403 && SIGN_IN_AGAIN.has(code)) {
      signOut("登录已失效，请重新登录");
      return;
    }
    state.reconnect = setTimeout(connectLive, RECONNECT_MS);
  };
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", (e) => run(() => signIn(e)));
  $("scan-form").addEventListener("submit", (e) => run(() => scan(e)));
  $("order-form").addEventListener("submit", (e) => run(() => openOrder(e)));
  $("bind-refresh").addEventListener("click", () => run(showBindCode));
  $("logout").addEventListener("click", () => signOut(""));
  if (sessionStorage.getItem(TOKEN_KEY)) run(start);
  else showView(false);
});
