import { pacedFetch, RateLimitedError } from "sluice/client";

const api = pacedFetch({ maxWaitSeconds: 60 });
try {
  const res = await api("https://api.example.com/v1/orders");
  console.log(res.status);
} catch (e) {
  if (e instanceof RateLimitedError) console.log(`refused by ${e.policy}; back in ${e.retryAfterSeconds} s`);
  else throw e;
}
