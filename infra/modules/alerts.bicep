// Log search alerts on the lines each check run writes (shared/run-log.ts; README, "Logs" and "Alerts"), and the
// action group that e-mails them. Each line is "<text> {json}" in traces.message; the queries read the JSON back.
param namePrefix string
param location string
param tags object
@description('Resource ID of the Application Insights the function app logs to: the scope of every rule.')
param applicationInsightsId string
@description('Comma-separated addresses the alerts e-mail; empty: the rules still fire in the portal, no one is e-mailed.')
param alertEmail string
@description('Hours without a timer run that completed with no error before the first alert fires.')
param noSuccessHours int
@description('Days a held change may wait for its release before the third alert fires.')
param holdDays int

// The JSON of a run-log line, which follows the text and its first "{" (target ids and codes never contain one).
var parsed = 'extend d = parse_json(substring(message, indexof(message, "{")))'

var noSuccessQuery = '''
traces
| where message contains '"event":"allowlist-drift.run"'
| PARSED
| where tostring(d.event) == "allowlist-drift.run" and tostring(d.trigger) == "timer"
| where toint(d.error) == 0 and toint(d.runErrors) == 0
'''

var targetErrorQuery = '''
traces
| where message contains '"event":"allowlist-drift.'
| PARSED
| where (tostring(d.event) == "allowlist-drift.target" and tostring(d.status) == "error")
    or (tostring(d.event) == "allowlist-drift.run-problem" and severityLevel == 3)
| project timestamp, configName = tostring(d.configName), targetId = tostring(d.targetId), code = tostring(d.code),
    reason = tostring(d.reason), runId = tostring(d.runId)
'''

var oldHoldQuery = '''
traces
| where message contains '"event":"allowlist-drift.target"'
| PARSED
| where tostring(d.event) == "allowlist-drift.target" and tostring(d.status) == "held"
| where todatetime(d.heldSince) < ago(HOLD_DAYSd)
| summarize arg_max(timestamp, *) by configName = tostring(d.configName), targetId = tostring(d.targetId)
| project timestamp, configName, targetId, heldSince = todatetime(d.heldSince), code = tostring(d.code), reason = tostring(d.reason)
'''

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-${namePrefix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'allowlist'
    enabled: true
    emailReceivers: [
      for (address, index) in split(alertEmail, ','): {
        name: 'email-${index}'
        emailAddress: trim(address)
        useCommonAlertSchema: true
      }
    ]
  }
}

var actions = {
  actionGroups: empty(alertEmail) ? [] : [actionGroup.id]
}

// Fires when no timer run completed without an error for noSuccessHours: the timers stopped, or every run fails.
resource noSuccessfulRun 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-no-successful-run'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'allowlist-drift: no successful run in ${noSuccessHours} hours'
    description: 'No timer check completed without an error in the last ${noSuccessHours} hours (allowlist-drift.run lines with error == 0 and runErrors == 0).'
    severity: 1
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT1H'
    windowSize: 'PT1H'
    overrideQueryTimeRange: 'PT${noSuccessHours}H'
    criteria: {
      allOf: [
        {
          query: replace(noSuccessQuery, '| PARSED', '| ${parsed}')
          timeAggregation: 'Count'
          operator: 'LessThan'
          threshold: 1
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

// Fires on every target that ended in error (nothing usable was read) and on run-level errors (store, GitHub).
resource targetError 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-target-error'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'allowlist-drift: a check logged an error'
    description: 'A target ended with status error, or a run logged an error (allowlist-drift.target / allowlist-drift.run-problem lines).'
    severity: 2
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: replace(targetErrorQuery, '| PARSED', '| ${parsed}')
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

// Holds go to the dashboard issue; this pages someone only when a held change has waited holdDays for its release.
// A day of lines is read, so the six-hourly CAS check has logged each held target at least once.
resource oldHold 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-${namePrefix}-old-hold'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'allowlist-drift: a change held for more than ${holdDays} days'
    description: 'A held target whose change was first seen more than ${holdDays} days ago (heldSince of allowlist-drift.target lines): release or refuse it.'
    severity: 3
    enabled: true
    scopes: [applicationInsightsId]
    evaluationFrequency: 'PT6H'
    windowSize: 'PT6H'
    overrideQueryTimeRange: 'P1D'
    criteria: {
      allOf: [
        {
          query: replace(replace(oldHoldQuery, '| PARSED', '| ${parsed}'), 'HOLD_DAYS', string(holdDays))
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

output ruleNames array = [noSuccessfulRun.name, targetError.name, oldHold.name]
