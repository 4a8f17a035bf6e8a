import { familyOf, type Cidr } from '../ipset.js';

/**
 * A Terraform variable definitions file in JSON syntax (*.tfvars.json): one list variable per IP family,
 * "<variable>_ipv4" and "<variable>_ipv6". Separate lists because firewall resources take the families in
 * separate arguments: an AWS security group rule has CidrIp and CidrIpv6 (Terraform: cidr_blocks and
 * ipv6_cidr_blocks), and a rule given a prefix of the other family is rejected.
 */
export function renderTfvarsJson(cidrs: readonly Cidr[], variable: string): string {
  const variables = {
    [`${variable}_ipv4`]: cidrs.filter((cidr) => familyOf(cidr) === 4),
    [`${variable}_ipv6`]: cidrs.filter((cidr) => familyOf(cidr) === 6),
  };
  return `${JSON.stringify(variables, null, 2)}\n`;
}
