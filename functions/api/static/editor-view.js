// The editor's view: the page around the four steps (head, health, banners, the tabs and
// their panels). As TodoMVC's view.js: it draws from what it is given and calls the
// handlers bound to it; it holds no document, no editor state and asks nothing of the API.

import { el, replace, timeAgo } from './dom.js';
import { clearProblems, showProblems, stepOf } from './problems.js';

export const STEPS = [
  ['configure', '1', 'Configure'],
  ['map', '2', 'Map'],
  ['test', '3', 'Test'],
  ['save', '4', 'Save'],
];
const ORDER = STEPS.map(([name]) => name);
const NEXT = {
  configure: ['map', 'Next: map fields'],
  map: ['test', 'Next: test'],
  test: ['save', 'Next: validate and save'],
};

export class EditorView {
  constructor(main) {
    this.main = main;
    this.tabs = {};
    this.panels = {};
    this.shown = null; // the step whose panel is showing
    this.title = el('h1', {});
    this.dirtyBadge = el('span', { class: 'badge changed', hidden: true }, 'Unsaved changes');
    this.driftBadge = el('span', { class: 'drift-slot' });
    // A saved integration's delivery: paused or not, held runs, Pause / Resume.
    this.delivery = el('div', { class: 'delivery-head' });
    this.banners = el('div', { class: 'banners' });
    // A saved integration's last 24 hours and its refused signatures, above the steps.
    this.health = el('div', { class: 'health-box', 'aria-live': 'polite' });
    const none = () => {};
    this.on = { goTo: none, discardStored: none };
  }

  /** A tab, the arrow keys on the tabs or a Next button: called with the step's name. */
  bindGoTo(handler) { this.on.goTo = handler; }

  /** The restored draft banner's Discard them. */
  bindDiscardStored(handler) { this.on.discardStored = handler; }

  /** Whether the tabs and panels are drawn (the editor has loaded). */
  get mounted() {
    return Boolean(this.tabs.configure);
  }

  showLoading() {
    replace(this.main, el('p', { class: 'muted' }, 'Loading…'));
  }

  showLoadError(message) {
    replace(this.main, el('p', {}, el('a', { href: '#/integrations' }, '← Integrations')),
      el('p', { class: 'problem-text', role: 'alert' }, message));
  }

  /**
   * The whole editor, new tabs and panels holding `steps` ({configure, map, test, save}:
   * each step's element); no step shown until `showStep`.
   */
  mount(steps) {
    const tablist = this.tabList();
    for (const [name] of STEPS) this.fillPanel(name, steps[name]);
    replace(this.main,
      el('p', { class: 'crumbs' }, el('a', { href: '#/integrations' }, '← Integrations')),
      el('div', { class: 'page-head editor-head' }, this.title, this.dirtyBadge, this.driftBadge,
        this.delivery),
      this.health,
      this.banners, tablist, STEPS.map(([name]) => this.panels[name]));
    this.shown = null;
  }

  /** Step `name`'s panel holds `content` and its Next button (step 1 is drawn again often). */
  fillPanel(name, content) {
    const next = NEXT[name];
    replace(this.panels[name], content, next ? this.nextButton(...next) : null);
  }

  nextButton(step, label) {
    return el('div', { class: 'buttons end step-foot' },
      el('button', { type: 'button', class: 'primary', onclick: () => this.on.goTo(step) }, label));
  }

  tabList() {
    const list = el('div', { role: 'tablist', 'aria-label': 'Steps', class: 'steps' },
      STEPS.map(([name, number, label]) => {
        this.tabs[name] = el('button', {
          type: 'button', role: 'tab', id: `tab-${name}`, 'aria-controls': `panel-${name}`,
          onclick: () => this.on.goTo(name),
        }, el('span', { class: 'step-number', 'aria-hidden': 'true' }, number), label,
        el('span', { class: 'count', hidden: true }));
        this.panels[name] = el('section', { role: 'tabpanel', id: `panel-${name}`,
          'aria-labelledby': `tab-${name}`, class: `panel panel-${name}` });
        return this.tabs[name];
      }));
    list.addEventListener('keydown', (event) => {
      const at = ORDER.indexOf(this.shown);
      const next = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: ORDER.length - 1 }[event.key];
      if (next === undefined) return;
      event.preventDefault();
      const step = ORDER[(next + ORDER.length) % ORDER.length];
      this.on.goTo(step);
      this.tabs[step].focus();
    });
    return list;
  }

  /** Show `step`'s panel; false when it is showing already. `name` goes in the page title. */
  showStep(step, name) {
    if (this.shown === step) return false;
    this.shown = step;
    for (const [tab] of STEPS) {
      const selected = tab === step;
      this.tabs[tab].setAttribute('aria-selected', String(selected));
      this.tabs[tab].tabIndex = selected ? 0 : -1;
      this.panels[tab].hidden = !selected;
    }
    document.title = `${name} · ${step} · JSON mapper`;
    return true;
  }

  /** Focus the control showing `path` in `step`'s panel (or the first control inside it). */
  focusPath(step, path) {
    const found = path && this.panels[step].querySelector(`[data-path="${CSS.escape(path)}"]`);
    if (!found) return;
    const focusable = found.matches('input, select, textarea, button') ? found
      : found.querySelector('input, select, textarea, button');
    if (focusable) focusable.focus();
  }

  /** Focus the control named `key` (data-focus, else data-path) in step 1. */
  focusConfigure(key) {
    const target = this.panels.configure.querySelector(`[data-focus="${CSS.escape(key)}"]`)
      || this.panels.configure.querySelector(`[data-path="${CSS.escape(key)}"]`);
    if (target) target.focus();
  }

  /** The title and the unsaved-changes badge: {title, dirty, saved}. */
  renderHead({ title, dirty, saved }) {
    this.title.textContent = title;
    this.dirtyBadge.hidden = !dirty;
    this.dirtyBadge.textContent = saved ? 'Unsaved changes' : 'Not saved yet';
  }

  /** Validate's and the preview's problems at their fields, counted on each step's tab. */
  renderProblems({ validate, preview }) {
    clearProblems(this.main);
    // The preview and Validate often find the same problem: show it once.
    const known = new Set(validate.map((p) => `${p.path}\n${p.message}`));
    const fromPreview = preview.filter((p) => !known.has(`${p.path}\n${p.message}`));
    showProblems(this.main, validate, 'validate');
    showProblems(this.main, fromPreview, 'preview');
    for (const [step] of STEPS) {
      const count = [...validate, ...fromPreview].filter((p) => stepOf(p.path) === step).length;
      const badge = this.tabs[step] && this.tabs[step].querySelector('.count');
      if (!badge) continue;
      badge.textContent = count ? String(count) : '';
      badge.hidden = !count;
      if (count) badge.setAttribute('aria-label', `${count} problem${count > 1 ? 's' : ''}`);
    }
  }

  /** The health box: the signature warning and the last 24 hours (either may be null). */
  renderHealth(warning, line, shape = null) {
    replace(this.health, warning, line, shape);
  }

  /** The source drift badge by the title (a path a mapping reads drifted), or none. */
  showDrift(badge) {
    replace(this.driftBadge, badge);
  }

  /** The delivery controls of a saved integration (delivery.js), or none. */
  renderDelivery(controls) {
    replace(this.delivery, controls);
  }

  clearHealth() {
    this.health.replaceChildren();
    this.driftBadge.replaceChildren();
  }

  clearBanners() {
    this.banners.replaceChildren();
  }

  /** Unsaved changes restored from `stored` (a stored draft) over the saved `base`. */
  showRestored(stored, base) {
    this.banners.append(el('div', { class: 'banner', role: 'status' },
      'Restored your unsaved changes from ', timeAgo(stored.savedAt), '. ',
      stored.baseVersion !== null && stored.baseVersion !== base.version
        ? `The saved integration has changed since (version ${stored.baseVersion} → ${base.version}). `
        : '',
      el('button', { type: 'button', class: 'link', onclick: () => this.on.discardStored() }, 'Discard them')));
  }

  /** Secrets typed into a draft are not stored: name the ones to enter again. */
  showDroppedSecrets(names) {
    this.banners.append(el('div', { class: 'banner', role: 'status' },
      `Secrets are never kept in drafts: enter ${names.join(', ')} again.`));
  }
}
