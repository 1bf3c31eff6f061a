// The dashboard's script: polls api/state and redraws the page from it.
// The server renders the same content into the HTML, so the page is
// complete without this script; it only keeps it fresh. Text is set
// with textContent, never parsed as HTML: object names come from the
// manager's users.
'use strict';

(function () {
  const interval = Number(document.body.dataset.interval) || 1000;
  const timeoutMs = Math.max(5000, 3 * interval);
  let polls = 0;

  function setStatus(ok, text) {
    const st = document.getElementById('status');
    st.textContent = text;
    st.className = ok ? 'ok' : 'down';
    document.body.classList.toggle('stale', !ok);
  }

  function cells(tr, tag, values) {
    for (const v of values) {
      const c = document.createElement(tag);
      c.textContent = v;
      tr.appendChild(c);
    }
  }

  function renderTable(t) {
    let sec = document.getElementById('t-' + t.id);
    if (!sec) {
      sec = document.createElement('section');
      sec.id = 't-' + t.id;
      sec.innerHTML = '<h2></h2><table><thead></thead><tbody></tbody></table><p class="more"></p>';
      document.body.appendChild(sec);
    }
    sec.querySelector('h2').textContent = t.title;
    const table = sec.querySelector('table');
    const head = document.createElement('tr');
    cells(head, 'th', t.columns);
    table.tHead.replaceChildren(head);
    const rows = t.rows.map(function (r) {
      const tr = document.createElement('tr');
      cells(tr, 'td', r);
      return tr;
    });
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      tr.className = 'none';
      const td = document.createElement('td');
      td.colSpan = t.columns.length;
      td.textContent = 'none';
      tr.appendChild(td);
      rows.push(tr);
    }
    table.tBodies[0].replaceChildren(...rows);
    table.dataset.poll = String(polls);
    sec.querySelector('.more').textContent = t.more ? t.more + ' more not shown' : '';
  }

  function render(s) {
    setStatus(s.ok, s.status);
    const dl = document.getElementById('summary');
    dl.replaceChildren(...s.summary.map(function (it) {
      const div = document.createElement('div');
      const dt = document.createElement('dt');
      const dd = document.createElement('dd');
      dt.textContent = it.label;
      dd.textContent = it.value;
      div.append(dt, dd);
      return div;
    }));
    document.getElementById('plot-calls').setAttribute('d', s.plot.calls);
    document.getElementById('plot-errors').setAttribute('d', s.plot.errors);
    document.getElementById('plot-max').textContent = s.plot.max;
    document.getElementById('plot-last').textContent = s.plot.last;
    document.getElementById('plot-span').textContent = s.plot.span;
    document.getElementById('plot-from').textContent = '-' + s.plot.span;
    for (const t of s.tables) renderTable(t);
    document.body.dataset.polls = String(polls);
  }

  async function poll() {
    // A dashboard that stopped answering must not leave the fetch
    // pending for ever: abort it, say so, and try again.
    const ctl = new AbortController();
    const timer = setTimeout(function () { ctl.abort(); }, timeoutMs);
    try {
      const r = await fetch('api/state', {cache: 'no-store', signal: ctl.signal});
      if (!r.ok) throw new Error('HTTP ' + r.status + ': ' + (await r.text()));
      const s = await r.json();
      polls++;
      render(s);
    } catch (e) {
      setStatus(false, 'the dashboard (managerctl) is not answering: ' + (e.name === 'AbortError' ? 'timed out' : e.message) + '; retrying');
    } finally {
      clearTimeout(timer);
      setTimeout(poll, interval);
    }
  }

  poll();
})();
