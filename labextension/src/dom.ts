// Tiny DOM helpers: every text goes through textContent, never innerHTML.

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { className?: string; text?: string; title?: string; attrs?: Record<string, string> } = {},
  children: (Node | null | undefined)[] = []
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.className) {
    node.className = props.className;
  }
  if (props.text !== undefined) {
    node.textContent = props.text;
  }
  if (props.title) {
    node.title = props.title;
  }
  for (const [key, value] of Object.entries(props.attrs ?? {})) {
    node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child) {
      node.appendChild(child);
    }
  }
  return node;
}

export function button(text: string, onClick: () => void, className = 'jp-mod-styled mlnb-button'): HTMLButtonElement {
  const node = el('button', { className, text });
  node.addEventListener('click', onClick);
  return node;
}

export function table(head: string[], rows: (string | Node)[][], className = 'mlnb-table'): HTMLTableElement {
  const node = el('table', { className });
  const headRow = node.createTHead().insertRow();
  for (const h of head) {
    headRow.appendChild(el('th', { text: h }));
  }
  const body = node.createTBody();
  for (const row of rows) {
    const tr = body.insertRow();
    for (const value of row) {
      const td = tr.insertCell();
      if (typeof value === 'string') {
        td.textContent = value;
      } else {
        td.appendChild(value);
      }
    }
  }
  return node;
}
