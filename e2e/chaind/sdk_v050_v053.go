//go:build sdk050 || sdk053

package main

// API of SDK v0.50 and v0.53: cosmossdk.io/log, cosmossdk.io/x/upgrade, the store's trace writer.

import (
	"context"
	"io"

	"cosmossdk.io/log"
	_ "cosmossdk.io/x/upgrade" // registers the upgrade module with depinject
	upgradekeeper "cosmossdk.io/x/upgrade/keeper"
	upgradetypes "cosmossdk.io/x/upgrade/types"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/runtime"
	"github.com/cosmos/cosmos-sdk/server"
	servertypes "github.com/cosmos/cosmos-sdk/server/types"
	"github.com/cosmos/cosmos-sdk/types/module"
)

type (
	sdkLogger     = log.Logger
	upgradeKeeper = upgradekeeper.Keeper
)

func nopLogger() log.Logger { return log.NewNopLogger() }

func newApp(logger log.Logger, db dbm.DB, trace io.Writer, appOpts servertypes.AppOptions) servertypes.Application {
	opts := server.DefaultBaseappOptions(appOpts)
	return newChainApp(logger, appOpts, func(b *runtime.AppBuilder) *runtime.App { return b.Build(db, trace, opts...) })
}

func exportApp(log.Logger, dbm.DB, io.Writer, int64, bool, []string, servertypes.AppOptions, []string) (servertypes.ExportedApp, error) {
	return servertypes.ExportedApp{}, errNoExport
}

func addServerCommands(root *cobra.Command) {
	server.AddCommands(root, defaultNodeHome, newApp, exportApp, func(*cobra.Command) {})
}

func registerUpgradeHandler(app *chainApp) {
	if upgradeHandlerName == "" {
		return
	}
	app.upgradeKeeper.SetUpgradeHandler(upgradeHandlerName,
		func(ctx context.Context, _ upgradetypes.Plan, fromVM module.VersionMap) (module.VersionMap, error) {
			return app.runMigrations(ctx, fromVM)
		})
}
