#!/usr/bin/env node
/**
 * Runs before `npm start` and `npm test` (their first step): sets up what they need on a fresh
 * machine. Plain Node with no dependencies, since it runs before any are installed.
 * (Contract placeholder: issue 13 fills it in.)
 */
