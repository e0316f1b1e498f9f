// Topic filters [MQTT 3.1.1, 4.7]: `+` matches one level, `#` the rest (and the parent level itself), and a
// filter starting with a wildcard does not match topics starting with `$`.

export function topicMatches(filter: string, topic: string): boolean {
  if (topic[0] == "$" && /^[+#]/.test(filter)) return false;
  const topicLevels = topic.split("/");
  let i = 0;
  for (const level of filter.split("/")) {
    if (level == "#") return true;
    // Past the topic's last level, topicLevels[i] is undefined: only "+" goes on, and the length check below fails.
    if (level != "+" && level != topicLevels[i]) return false;
    i++;
  }
  return i == topicLevels.length;
}
