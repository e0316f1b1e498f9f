// Topic filters [MQTT 3.1.1, 4.7]: `+` matches one level, `#` the rest (and the parent level itself), and a
// filter starting with a wildcard does not match topics starting with `$`.

export const topicMatches = (filter: string, topic: string): boolean => {
  const topicLevels = topic.split("/");
  let i = 0;
  // Whether a wildcard may match this level: a wildcard at the first level matches no topic starting with `$`.
  let wild = topic[0] != "$";
  for (const level of filter.split("/")) {
    if (level == "#") return wild;
    // Past the topic's last level, topicLevels[i] is undefined: only "+" goes on, and the length check below fails.
    if (level == "+" ? !wild : level != topicLevels[i]) return false;
    i++;
    wild = true;
  }
  return i == topicLevels.length;
};
