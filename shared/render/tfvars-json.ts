/**
 * A Terraform variable definitions file in JSON syntax (*.tfvars.json): one list variable per IP family,
 * "<variable>_ipv4" and "<variable>_ipv6". Separate lists because firewall resources take the families in
 * separate arguments: an AWS security group rule has CidrIp and CidrIpv6 (Terraform: cidr_blocks and
 * ipv6_cidr_blocks), and a rule given a prefix of the other family is rejected.
 */
export function renderTfvarsJson(entries: readonly string[], variable: string): string {
  // An IPv6 entry, in any of its written forms, holds a colon; an IPv4 one never does.
  const variables = {
    [`${variable}_ipv4`]: entries.filter((entry) => !entry.includes(':')),
    [`${variable}_ipv6`]: entries.filter((entry) => entry.includes(':')),
  };
  return `${JSON.stringify(variables, null, 2)}\n`;
}
