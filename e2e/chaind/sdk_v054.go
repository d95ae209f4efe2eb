//go:build sdk054

package main

// API of SDK v0.54: cosmossdk.io/log/v2, x/upgrade inside the SDK module, no trace writer in
// AppBuilder.Build and the AppCreator. v0.54 runs the governance upgrade from the v0.53 chain.

import (
	"context"

	"cosmossdk.io/log/v2"
	dbm "github.com/cosmos/cosmos-db"
	"github.com/spf13/cobra"

	"github.com/cosmos/cosmos-sdk/runtime"
	"github.com/cosmos/cosmos-sdk/server"
	servertypes "github.com/cosmos/cosmos-sdk/server/types"
	"github.com/cosmos/cosmos-sdk/types/module"
	_ "github.com/cosmos/cosmos-sdk/x/upgrade" // registers the upgrade module with depinject
	upgradekeeper "github.com/cosmos/cosmos-sdk/x/upgrade/keeper"
	upgradetypes "github.com/cosmos/cosmos-sdk/x/upgrade/types"
)

const upgradeHandlerName = "v053-to-v054"

type (
	sdkLogger     = log.Logger
	upgradeKeeper = upgradekeeper.Keeper
)

func nopLogger() log.Logger { return log.NewNopLogger() }

func newApp(logger log.Logger, db dbm.DB, appOpts servertypes.AppOptions) servertypes.Application {
	opts := server.DefaultBaseappOptions(appOpts)
	return newChainApp(logger, appOpts, func(b *runtime.AppBuilder) *runtime.App { return b.Build(db, opts...) })
}

func exportApp(log.Logger, dbm.DB, int64, bool, []string, servertypes.AppOptions, []string) (servertypes.ExportedApp, error) {
	return servertypes.ExportedApp{}, errNoExport
}

func addServerCommands(root *cobra.Command) {
	server.AddCommands(root, defaultNodeHome, newApp, exportApp, func(*cobra.Command) {})
}

func registerUpgradeHandler(app *chainApp) {
	app.upgradeKeeper.SetUpgradeHandler(upgradeHandlerName,
		func(ctx context.Context, _ upgradetypes.Plan, fromVM module.VersionMap) (module.VersionMap, error) {
			return app.runMigrations(ctx, fromVM)
		})
}
