// Topic filters [MQTT 3.1.1, 4.7]: `+` matches one level, `#` the rest (and the parent level itself), and a
// filter starting with a wildcard does not match topics starting with `$`.

export function topicMatches(filter: string, topic: string): boolean {
  const first = filter.charAt(0);
  if (topic.charAt(0) == "$" && (first == "+" || first == "#")) return false;
  const filterLevels = filter.split("/");
  const topicLevels = topic.split("/");
  for (let i = 0; i < filterLevels.length; i++) {
    const level = filterLevels[i];
    if (level == "#") return true;
    if (i >= topicLevels.length || (level != "+" && level != topicLevels[i])) return false;
  }
  return filterLevels.length == topicLevels.length;
}
