import { killLeftovers } from './children';

afterAll(async () => {
  const killed = await killLeftovers();
  if (killed > 0) console.warn(`${killed} child process(es) left running by this file's tests were killed`);
});
