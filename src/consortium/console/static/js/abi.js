// The address page's "Register an ABI" form: consortium_registerAbi on this node, then the
// page again (its transactions now decode). The node checks the ABI against the code.
import { rpc } from './rpc.js';

const form = document.querySelector('#register-abi form');
if (form) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const outcome = form.querySelector('.outcome');
    let abi;
    try {
      abi = JSON.parse(form.elements.abi.value);
    } catch (err) {
      outcome.textContent = `The ABI is not JSON: ${err.message}`;
      outcome.className = 'outcome error';
      return;
    }
    const name = form.elements.name.value.trim();
    try {
      const done = await rpc('consortium_registerAbi',
        name ? [form.dataset.address, abi, name] : [form.dataset.address, abi]);
      outcome.textContent = `Registered: ${done.functions} functions, ${done.events} events.`;
      outcome.className = 'outcome ok';
      setTimeout(() => location.reload(), 800);
    } catch (err) {
      outcome.textContent = `Refused: ${err.message}`;
      outcome.className = 'outcome error';
    }
  });
}
