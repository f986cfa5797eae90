import type { AnyStateMachine, AnyStateNode } from 'xstate';

/**
 * A machine's definition as text for people and tools: a Mermaid `stateDiagram-v2` walked from the
 * state nodes, and the `createMachine(...)` source that Stately Studio imports. Both read only the
 * definition: no actor is created, nothing runs.
 *
 * The diagram shows state changes: transitions without a target (actions only) are left out, so a
 * state that handles an event in place shows no loop for it. Delayed transitions carry the delay's
 * name (`after pongTimeout`), guarded ones the guard's (`[slotIsFree]`), and transitions declared
 * on the machine itself leave a pseudo-state labelled "any state". Output is a function of the
 * definition alone: states and transitions come in document order.
 */

interface Edge {
  readonly from: string;
  readonly to: string;
  readonly label: string;
  /** The state node whose block the edge is written in. */
  readonly scope: AnyStateNode;
}

/** The pseudo-state that stands for "whatever the machine is in" (root-level transitions). */
const ANY_STATE_ID = 'anyState';
/** Words the Mermaid state grammar reads as keywords: never used bare as a state id. */
const RESERVED_IDS = new Set(['state', 'note', 'direction', 'end', 'as', 'classDef', 'class']);

export function toMermaid(machine: AnyStateMachine): string {
  const ids = assignIds(machine.root);
  const edges = collectEdges(machine.root, ids);
  const lines = ['stateDiagram-v2'];
  if (edges.some((e) => e.from === ANY_STATE_ID)) {
    lines.push(`  state "any state" as ${ANY_STATE_ID}`);
  }
  lines.push(...renderScope(machine.root, ids, edges, 1));
  return `${lines.join('\n')}\n`;
}

/** `createMachine(<config>)` for Stately Studio's import; implementations stay named references. */
export function toStudioDefinition(machine: AnyStateMachine): string {
  return `createMachine(${toDefinitionJson(machine)});\n`;
}

/**
 * The machine's config as JSON. Named actions, guards, delays and actors are strings or
 * `{ type, params }` objects and survive; functions (the context factory, invoke inputs) do not.
 */
export function toDefinitionJson(machine: AnyStateMachine): string {
  return JSON.stringify(
    machine.config,
    (_key, value: unknown) => (typeof value === 'function' ? undefined : value),
    2,
  );
}

/** Every state node below the root, parents before children, in document order. */
function descendants(node: AnyStateNode): AnyStateNode[] {
  return Object.values(node.states).flatMap((child) => [child, ...descendants(child)]);
}

/**
 * Mermaid ids share one namespace across nesting levels: a key used once in the whole machine is
 * its own id; a repeated one gets its path, and the diagram shows the key as the label.
 */
function assignIds(root: AnyStateNode): ReadonlyMap<AnyStateNode, string> {
  const nodes = descendants(root);
  const uses = new Map<string, number>();
  for (const node of nodes) {
    const key = safeId(node.key);
    uses.set(key, (uses.get(key) ?? 0) + 1);
  }
  const taken = new Set<string>([ANY_STATE_ID]);
  const ids = new Map<AnyStateNode, string>();
  for (const node of nodes) {
    const key = safeId(node.key);
    let id = uses.get(key) === 1 && !RESERVED_IDS.has(key) ? key : safeId(node.path.join('_'));
    for (let n = 2; taken.has(id); n++) id = `${safeId(node.path.join('_'))}_${n}`;
    taken.add(id);
    ids.set(node, id);
  }
  return ids;
}

function safeId(text: string): string {
  const id = text.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(id) ? id : `s_${id}`;
}

function collectEdges(root: AnyStateNode, ids: ReadonlyMap<AnyStateNode, string>): Edge[] {
  const edges: Edge[] = [];
  for (const source of [root, ...descendants(root)]) {
    const delays = new Map(source.after.map((t) => [t.eventType, t.delay] as const));
    const candidates = [...[...source.transitions.values()].flat(), ...(source.always ?? [])];
    for (const transition of candidates) {
      const event = transition.eventType;
      const delay = delays.get(event);
      const trigger =
        delay !== undefined ? `after ${describeDelay(delay)}` : event === '' ? 'always' : event;
      const guard = transition.guard === undefined ? '' : ` [${describeGuard(transition.guard)}]`;
      for (const target of transition.target ?? []) {
        const from = source === root ? ANY_STATE_ID : idOf(ids, source);
        const scope = source === root ? root : scopeOf(source, target, root);
        edges.push({ from, to: idOf(ids, target), label: `${trigger}${guard}`, scope });
      }
    }
  }
  return edges;
}

function idOf(ids: ReadonlyMap<AnyStateNode, string>, node: AnyStateNode): string {
  const id = ids.get(node);
  if (id === undefined) throw new Error(`state node #${node.id} is not part of the machine`);
  return id;
}

/**
 * The block an edge is written in: the nearest common ancestor of its ends, but never one of the
 * ends themselves (an edge from a box to its own child) nor a parallel state (its `--` separators
 * would split the edge into a region).
 */
function scopeOf(source: AnyStateNode, target: AnyStateNode, root: AnyStateNode): AnyStateNode {
  const ancestors = new Set<AnyStateNode>();
  for (let n: AnyStateNode | undefined = source; n !== undefined; n = n.parent) ancestors.add(n);
  let common: AnyStateNode = target;
  while (!ancestors.has(common)) common = common.parent ?? root;
  if (common === source || common === target) common = common.parent ?? root;
  while (common.type === 'parallel') common = common.parent ?? root;
  return common;
}

function describeDelay(delay: unknown): string {
  if (typeof delay === 'number') return `${delay}ms`;
  if (typeof delay === 'string') return delay;
  return 'an inline delay';
}

/** Named guards by name; `not`, `and`, `or` spelled out; inline functions by function name. */
function describeGuard(guard: unknown): string {
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') {
    const inner = (guard as { guards?: unknown }).guards;
    if (Array.isArray(inner)) return `${guard.name}(${inner.map(describeGuard).join(', ')})`;
    return guard.name === '' ? 'inline' : guard.name;
  }
  if (typeof guard === 'object' && guard !== null && 'type' in guard) {
    return String((guard as { type: unknown }).type);
  }
  return 'inline';
}

function renderScope(
  node: AnyStateNode,
  ids: ReadonlyMap<AnyStateNode, string>,
  edges: readonly Edge[],
  depth: number,
): string[] {
  const pad = '  '.repeat(depth);
  const lines: string[] = [];
  const children = Object.values(node.states);
  if (node.type === 'parallel') {
    children.forEach((region, i) => {
      if (i > 0) lines.push(`${pad}--`);
      lines.push(...renderState(region, ids, edges, depth));
    });
    return lines;
  }
  for (const initial of node.initial?.target ?? []) {
    lines.push(`${pad}[*] --> ${idOf(ids, initial)}`);
  }
  for (const child of children) lines.push(...renderState(child, ids, edges, depth));
  for (const edge of edges) {
    if (edge.scope === node) lines.push(`${pad}${edge.from} --> ${edge.to} : ${edge.label}`);
  }
  for (const child of children) {
    if (child.type === 'final') lines.push(`${pad}${idOf(ids, child)} --> [*]`);
  }
  return lines;
}

function renderState(
  node: AnyStateNode,
  ids: ReadonlyMap<AnyStateNode, string>,
  edges: readonly Edge[],
  depth: number,
): string[] {
  const pad = '  '.repeat(depth);
  const id = idOf(ids, node);
  const label = node.type === 'history' ? (node.history === 'deep' ? 'H*' : 'H') : node.key;
  const declared = label === id ? id : `"${label.replace(/"/g, "'")}" as ${id}`;
  if (Object.keys(node.states).length === 0) {
    return [label === id ? `${pad}${id}` : `${pad}state ${declared}`];
  }
  return [`${pad}state ${declared} {`, ...renderScope(node, ids, edges, depth + 1), `${pad}}`];
}
