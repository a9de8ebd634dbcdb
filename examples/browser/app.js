// unisse browser example: one EventSource on Centrifugo's unidirectional SSE
// endpoint (/connection/uni_sse). Every event's data is one JSON push:
//
//   {"connect":{"client":"…","version":"…","ping":25,"session":"…"}}  connect
//   {"channel":"news","pub":{"data":…,"offset":N}}                    publication
//   {}                                                                 ping
//   {"disconnect":{"code":3011,"reason":"force reconnect"}}           disconnect
//   {"channel":"…","join"|"leave"|"subscribe"|"unsubscribe":{…}}       others
//
// After a disconnect push the server ends the response. EventSource then
// reconnects by itself (with the same URL, so with the same token); that is
// right for codes 3000–3499, 4000–4499 and ≥ 5000, so for the others the page
// closes the EventSource first. A lost connection (unisse restarting) is also
// EventSource's to retry.
//
// Configuration: window.UNISSE_CONFIG {url, token} from config.js (written by
// main.go), overridden by the query string: ?url=…&token=…
// Tests read window.unisseDemo (see below).
'use strict';

(function () {
  const MAX_ROWS = 300;     // rows kept in the table (oldest dropped)
  const MAX_ENTRIES = 2000; // entries kept in unisseDemo.entries
  const SHOWN_DATA = 300;   // characters of data shown in a row

  const query = new URLSearchParams(location.search);
  const config = Object.assign({}, window.UNISSE_CONFIG || {});
  for (const key of ['url', 'token']) {
    if (query.get(key)) config[key] = query.get(key);
  }

  // Everything a test (or a curious developer in the console) needs.
  const demo = window.unisseDemo = {
    config: config,
    state: 'idle',  // idle | connecting | open | reconnecting | closed
    counts: { connect: 0, publication: 0, ping: 0, disconnect: 0, error: 0, other: 0 },
    // {type, channel, data, raw, time, code, reason, reconnect, lastEventId}
    entries: [],
    source: null,   // the current EventSource
    connect: connect,
    close: close,
  };

  const $ = (id) => document.getElementById(id);
  const logBody = $('log');

  function shouldReconnect(code) {
    // Centrifugo's rule. 3005 (connection expired) is a reconnect code,
    // but with the same, expired token the next connect would only be
    // refused again: a real client fetches a fresh token first.
    if (code === 3005) return false;
    return (code >= 3000 && code <= 3499) || (code >= 4000 && code <= 4499) || code >= 5000;
  }

  function setState(state) {
    demo.state = state;
    const el = $('state');
    el.textContent = state;
    el.className = state;
    $('toggle').textContent = (state === 'closed' || state === 'idle') ? 'Connect' : 'Disconnect';
  }

  function record(entry) {
    entry.time = new Date();
    const counted = entry.type in demo.counts ? entry.type : 'other';
    demo.counts[counted]++;
    demo.entries.push(entry);
    if (demo.entries.length > MAX_ENTRIES) demo.entries.shift();
    const n = $('n-' + counted);
    if (n) n.textContent = demo.counts[counted];
    show(entry);
  }

  function show(entry) {
    const row = document.createElement('tr');
    row.className = entry.type;
    let text = entry.text !== undefined ? entry.text
      : entry.data === undefined ? '' : JSON.stringify(entry.data);
    if (text.length > SHOWN_DATA) {
      text = text.slice(0, SHOWN_DATA) + '… (' + text.length + ' characters)';
    }
    const cells = [entry.time.toISOString().slice(11, 23), entry.type, entry.channel || '', text];
    cells.forEach((value, i) => {
      const td = document.createElement('td');
      td.textContent = value; // never innerHTML: data is whatever was published
      if (i === 1) td.className = 'type';
      if (i === 3) td.className = 'data';
      row.appendChild(td);
    });
    logBody.insertBefore(row, logBody.firstChild);
    while (logBody.rows.length > MAX_ROWS) logBody.deleteRow(-1);
  }

  function endpoint() {
    const u = new URL(config.url, location.href);
    u.searchParams.set('cf_connect', JSON.stringify({ token: config.token || '' }));
    return u.toString();
  }

  function onMessage(event) {
    let push;
    try {
      push = JSON.parse(event.data);
    } catch (err) {
      record({ type: 'error', text: 'not JSON: ' + err.message, raw: event.data });
      return;
    }
    const base = { raw: event.data, channel: push.channel, lastEventId: event.lastEventId };
    if (push.connect) {
      setState('open');
      record(Object.assign(base, { type: 'connect', data: push.connect }));
    } else if (push.pub) {
      record(Object.assign(base, { type: 'publication', data: push.pub.data, offset: push.pub.offset }));
    } else if (push.disconnect) {
      const d = push.disconnect;
      const again = shouldReconnect(d.code);
      record(Object.assign(base, {
        type: 'disconnect', data: d, code: d.code, reason: d.reason || '', reconnect: again,
        text: d.code + ' ' + (d.reason || '') + (again ? ' (reconnecting)' : ' (not reconnecting)'),
      }));
      if (again) {
        // The server ends the response now; EventSource reconnects.
        setState('reconnecting');
      } else {
        close();
      }
    } else if (Object.keys(push).length === 0) {
      record(Object.assign(base, { type: 'ping', text: '' }));
    } else {
      const type = ['join', 'leave', 'subscribe', 'unsubscribe', 'message', 'refresh']
        .find((k) => k in push) || 'unknown';
      record(Object.assign(base, { type: type, data: push[type] }));
    }
  }

  function onError() {
    const es = demo.source;
    if (!es || demo.state === 'closed') return;
    if (es.readyState === EventSource.CONNECTING) {
      // Network error or the end of a response: EventSource retries.
      if (demo.state !== 'reconnecting') {
        record({ type: 'error', text: 'connection lost; EventSource reconnects' });
      }
      setState('reconnecting');
    } else {
      // EventSource gave up (an HTTP error status, a wrong content type, or
      // a CORS refusal: is this page's origin in client.allowed_origins?).
      record({ type: 'error', text: 'EventSource failed and gave up; see the browser console' });
      close();
    }
  }

  function connect() {
    close();
    if (!config.url) {
      record({ type: 'error', text: 'no unisse URL: open this page with ?url=…&token=… or serve it with main.go' });
      return;
    }
    $('endpoint').textContent = new URL(config.url, location.href).toString();
    setState('connecting');
    const es = new EventSource(endpoint());
    es.onmessage = onMessage;
    es.onerror = onError;
    demo.source = es;
  }

  function close() {
    if (demo.source) demo.source.close();
    demo.source = null;
    setState('closed');
  }

  $('toggle').addEventListener('click', () => {
    if (demo.state === 'closed' || demo.state === 'idle') connect(); else close();
  });
  $('clear').addEventListener('click', () => { logBody.textContent = ''; });

  connect();
})();
