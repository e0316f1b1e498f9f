// Topic filters [MQTT 3.1.1, 4.7]: `+` matches one level, `#` the rest (and the parent level itself), and a
// filter starting with a wildcard does not match topics starting with `$`.

export const topicMatches = (filter: string, topic: string): boolean => {
  const topicLevels = topic.split("/");
  let i = 0;
  for (const level of filter.split("/")) {
    // A wildcard at the first level (i is 0) matches no topic starting with `$`.
    if (level == "#") return i > 0 || topic[0] != "$";
    // Past the topic's last level, topicLevels[i] is undefined: only "+" goes on, and the length check below fails.
    if (level == "+" ? !i && topic[0] == "$" : level != topicLevels[i]) return false;
    i++;
  }
  return i == topicLevels.length;
};
