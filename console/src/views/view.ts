/** A view draws itself into `root`; `life` says whether it is still on screen (polling stops when not). */
export interface Life {
  alive(): boolean;
  /** Waits, resolving early when the view goes away. */
  sleep(ms: number): Promise<void>;
}

export type View = (root: HTMLElement, life: Life, params: string[]) => void;
