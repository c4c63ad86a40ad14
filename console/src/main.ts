/**
 * The operator console: one page, four views chosen by the URL's fragment (#/upload, #/jobs, #/jobs/<id>,
 * #/aliases, #/schedules). With `dana-console-auth` = api-key (LOCAL_API_KEY set), the page asks for the key first
 * and again whenever the API says it is wrong.
 */
import { apiKey, authMode } from './api';
import { finishSignIn, idToken, signIn } from './cognito';
import { fill, h } from './dom';
import { session } from './ui';
import { aliasesView } from './views/aliases';
import { jobPageView, jobsView } from './views/job';
import { schedulesView } from './views/schedules';
import { uploadView } from './views/upload';
import type { Life, View } from './views/view';

const VIEWS: { path: string; title: string; view: View }[] = [
  { path: 'upload', title: 'Upload', view: uploadView },
  { path: 'jobs', title: 'Jobs', view: jobsView },
  { path: 'aliases', title: 'Aliases', view: aliasesView },
  { path: 'schedules', title: 'Schedules', view: schedulesView },
];

const main = document.getElementById('main')!;
const nav = document.getElementById('nav')!;
let current: { alive: boolean; wake: () => void } | undefined;

function lifeOf(state: { alive: boolean; wake: () => void }): Life {
  return {
    alive: () => state.alive,
    sleep: (ms) =>
      new Promise((resolve) => {
        const timer = setTimeout(resolve, ms);
        state.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      }),
  };
}

function route(): void {
  if (current) {
    current.alive = false;
    current.wake();
  }
  const [path = 'upload', ...params] = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const found = VIEWS.find((v) => v.path === path) ?? VIEWS[0]!;
  const view = path === 'jobs' && params.length > 0 ? jobPageView : found.view;
  for (const link of nav.querySelectorAll('a')) {
    if (link.dataset.path === found.path) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${found.title} · DANAConnect gateway console`;
  current = { alive: true, wake: () => undefined };
  fill(main);
  view(main, lifeOf(current), params);
  main.focus({ preventScroll: true });
}

/** Asks for the API key (kept in sessionStorage for this tab only), then calls `then`. */
function askForKey(then: () => void, message?: string): void {
  const input = h('input', { id: 'api-key', type: 'password', autocomplete: 'off', required: true });
  const form = h(
    'form',
    { class: 'sign-in' },
    h('h2', null, 'API key'),
    h(
      'p',
      null,
      message ?? 'This gateway requires its API key (LOCAL_API_KEY). It is kept for this tab only.',
    ),
    h('div', { class: 'field' }, h('label', { for: 'api-key' }, 'API key'), input),
    h('button', { type: 'submit' }, 'Continue'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (!input.value) return;
    apiKey.set(input.value);
    then();
  });
  fill(main, form);
  input.focus();
}

function start(): void {
  fill(
    nav,
    h(
      'ul',
      null,
      VIEWS.map((v) => h('li', null, h('a', { href: `#/${v.path}`, 'data-path': v.path }, v.title))),
    ),
  );
  session.onExpired = () => {
    apiKey.clear();
    idToken.clear();
    if (authMode() === 'api-key') askForKey(route, 'The API key was refused. Enter it again.');
    if (authMode() === 'cognito') askToSignIn('Your session has expired.');
  };
  window.addEventListener('hashchange', route);
  // The skip link must not change the fragment, which routes.
  document.querySelector('.skip')?.addEventListener('click', (e) => {
    e.preventDefault();
    main.focus();
  });
  if (authMode() === 'api-key' && !apiKey.get()) askForKey(route);
  else if (authMode() === 'cognito') {
    finishSignIn().then(
      () => (idToken.get() ? route() : askToSignIn()),
      (error: unknown) => askToSignIn(error instanceof Error ? error.message : String(error)),
    );
  } else route();
}

/** AWS: a button to Cognito's hosted sign-in (a navigation, so the whole page leaves and comes back). */
function askToSignIn(message?: string): void {
  const button = h('button', { type: 'button', onclick: () => void signIn() }, 'Sign in');
  fill(
    main,
    h(
      'section',
      { class: 'sign-in' },
      h('h2', null, 'Sign in'),
      h('p', null, message ?? 'Operators sign in with their account and authenticator app.'),
      button,
    ),
  );
  button.focus();
}

start();
